use crate::NUM_CLASSES;

/// Accuracy and macro-F1 over the 3 classes.
///
/// Macro-F1 is the unweighted mean of the per-class F1 scores; a class with no gold and no predicted
/// examples scores F1 = 0 (scikit-learn's `zero_division=0`) but still counts in the mean. Only the
/// common prefix of the two slices is compared; labels outside 0..3 count as wrong. Empty input gives
/// (0, 0).
pub fn accuracy_and_macro_f1(predicted: &[u8], gold: &[u8]) -> (f64, f64) {
    let n = predicted.len().min(gold.len());
    if n == 0 {
        return (0.0, 0.0);
    }
    let mut tp = [0u64; NUM_CLASSES];
    let mut pred_count = [0u64; NUM_CLASSES];
    let mut gold_count = [0u64; NUM_CLASSES];
    let mut correct = 0u64;
    for (&p, &g) in predicted.iter().zip(gold).take(n) {
        if let Some(c) = pred_count.get_mut(usize::from(p)) {
            *c += 1;
        }
        if let Some(c) = gold_count.get_mut(usize::from(g)) {
            *c += 1;
        }
        if p == g && usize::from(p) < NUM_CLASSES {
            correct += 1;
            tp[usize::from(p)] += 1;
        }
    }
    let f1_sum: f64 = (0..NUM_CLASSES)
        .map(|c| {
            let denom = pred_count[c] + gold_count[c];
            if denom == 0 { 0.0 } else { 2.0 * tp[c] as f64 / denom as f64 }
        })
        .sum();
    (correct as f64 / n as f64, f1_sum / NUM_CLASSES as f64)
}
