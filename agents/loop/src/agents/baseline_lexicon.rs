//! Baseline sentiment: a finance word lexicon. SentimentX (a distilled,
//! quantized model) replaces it; this one exists so the loop runs end to end.
use qp_runtime::{AgentContext, AgentError, IngestAgent, Outbox};
use qp_wire::{AssetId, CONFIDENCE_MAX_BP, SCORE_MAX, SCORE_MIN, SentimentSignal};

/// A headline entering the loop.
#[derive(Debug, Clone, Copy)]
pub struct Headline<'a> {
    /// When it was published (Unix ns).
    pub ts_ns: u64,
    pub text: &'a str,
}

const BULLISH: &[(&str, i8)] = &[
    ("surge", 3),
    ("surges", 3),
    ("soar", 3),
    ("soars", 3),
    ("rally", 3),
    ("rallies", 3),
    ("jump", 2),
    ("jumps", 2),
    ("gain", 2),
    ("gains", 2),
    ("rise", 2),
    ("rises", 2),
    ("beat", 2),
    ("beats", 2),
    ("upgrade", 3),
    ("upgrades", 3),
    ("upgraded", 3),
    ("record", 1),
    ("bullish", 3),
    ("buy", 1),
    ("outperform", 2),
    ("growth", 1),
    ("strong", 1),
    ("higher", 1),
    ("high", 1),
    ("boost", 2),
    ("boosts", 2),
    ("approval", 2),
    ("approves", 2),
    ("adoption", 2),
    ("inflows", 2),
];
const BEARISH: &[(&str, i8)] = &[
    ("plunge", 3),
    ("plunges", 3),
    ("crash", 3),
    ("crashes", 3),
    ("tumble", 3),
    ("tumbles", 3),
    ("fall", 2),
    ("falls", 2),
    ("drop", 2),
    ("drops", 2),
    ("slump", 3),
    ("slumps", 3),
    ("miss", 2),
    ("misses", 2),
    ("downgrade", 3),
    ("downgrades", 3),
    ("downgraded", 3),
    ("bearish", 3),
    ("sell", 1),
    ("selloff", 3),
    ("underperform", 2),
    ("weak", 1),
    ("weakness", 2),
    ("lower", 1),
    ("low", 1),
    ("cut", 2),
    ("cuts", 2),
    ("loss", 2),
    ("losses", 2),
    ("ban", 3),
    ("hack", 3),
    ("outflows", 2),
    ("fraud", 3),
    ("lawsuit", 2),
];
const NEGATIONS: &[&str] = &["not", "no", "never", "without", "fails", "failed"];
const MAX_ASSETS_PER_TEXT: usize = 8;

/// Scores a headline by summing word weights (a negation flips the next scored
/// word) and emits one [`SentimentSignal`] per configured asset the text names.
#[derive(Debug)]
pub struct BaselineLexicon {
    /// (alias, asset) pairs; matched whole-word, ASCII case-insensitively.
    aliases: Vec<(String, AssetId)>,
    model_id: u32,
    min_abs_score: i8,
    origin_node: u32,
    sequence: u64,
}

impl BaselineLexicon {
    pub fn new(aliases: Vec<(String, AssetId)>, model_id: u32, min_abs_score: i8, origin_node: u32) -> Self {
        Self { aliases, model_id, min_abs_score, origin_node, sequence: 0 }
    }

    /// Score and assets of a text, without allocating.
    fn analyse(&self, text: &str, assets: &mut [AssetId; MAX_ASSETS_PER_TEXT]) -> (i32, u32, usize) {
        let mut score: i32 = 0;
        let mut hits: u32 = 0;
        let mut found = 0;
        let mut negate = false;
        let words = text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '$')).filter(|w| !w.is_empty());
        for word in words {
            if let Some(&(_, asset)) = self.aliases.iter().find(|(alias, _)| alias.eq_ignore_ascii_case(word)) {
                if found < MAX_ASSETS_PER_TEXT && !assets[..found].contains(&asset) {
                    assets[found] = asset;
                    found += 1;
                }
                continue;
            }
            if NEGATIONS.iter().any(|n| n.eq_ignore_ascii_case(word)) {
                negate = true;
                continue;
            }
            let weight =
                BULLISH.iter().find(|(w, _)| w.eq_ignore_ascii_case(word)).map(|(_, s)| i32::from(*s)).or_else(|| {
                    BEARISH.iter().find(|(w, _)| w.eq_ignore_ascii_case(word)).map(|(_, s)| -i32::from(*s))
                });
            if let Some(weight) = weight {
                score += if negate { -weight } else { weight };
                hits += 1;
                negate = false;
            }
        }
        (score, hits, found)
    }
}

impl IngestAgent<Headline<'_>> for BaselineLexicon {
    fn name(&self) -> &'static str {
        "baseline-lexicon"
    }

    fn on_event(&mut self, _ctx: AgentContext, event: &Headline<'_>, out: &mut Outbox) -> Result<(), AgentError> {
        let mut assets = [AssetId::from_wire(0); MAX_ASSETS_PER_TEXT];
        let (score, hits, found) = self.analyse(event.text, &mut assets);
        let score = score.clamp(i32::from(SCORE_MIN), i32::from(SCORE_MAX)) as i8;
        if found == 0 || score.abs() < self.min_abs_score.max(1) {
            return Ok(());
        }
        let confidence = (hits * 2_500).min(u32::from(CONFIDENCE_MAX_BP)) as u16;
        for &asset in &assets[..found] {
            self.sequence += 1;
            out.emit(
                self.origin_node,
                self.sequence,
                &SentimentSignal::new(asset, score, confidence, event.ts_ns, self.model_id),
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lexicon() -> BaselineLexicon {
        BaselineLexicon::new(
            vec![("bitcoin".into(), AssetId::from_wire(1)), ("$ETH".into(), AssetId::from_wire(2))],
            7,
            1,
            1,
        )
    }

    #[test]
    fn scores_words_and_finds_assets() {
        let mut assets = [AssetId::from_wire(0); MAX_ASSETS_PER_TEXT];
        let (score, hits, found) = lexicon().analyse("Bitcoin SURGES as $eth rallies", &mut assets);
        assert_eq!((score, hits, found), (6, 2, 2));
        assert_eq!(&assets[..2], &[AssetId::from_wire(1), AssetId::from_wire(2)]);
        let (score, _, _) = lexicon().analyse("bitcoin does not rally; miners see losses", &mut assets);
        assert_eq!(score, -3 - 2);
    }
}
