//! The SentimentX agent: a text in, one [`SentimentSignal`] per asset it names
//! out (or one market-wide signal).
use qp_runtime::{AgentContext, AgentError, IngestAgent, Outbox};
use qp_wire::{AssetId, CONFIDENCE_MAX_BP, SentimentSignal};

use crate::assets::{AliasTable, MAX_ASSETS_PER_TEXT};
use crate::student::{NativeStudent, OrtStudent, StudentScratch, sentiment_score};

/// Longest text scored, in characters; longer texts are scored on their first
/// 280 characters and counted.
pub const MAX_TEXT_CHARS: usize = 280;

/// A model that gives [bearish, bullish, neutral] probabilities for a text.
pub trait SentimentModel: Send {
    /// The forge's id of this model, carried in every signal.
    fn model_id(&self) -> u32;
    fn probabilities(&mut self, text: &str) -> Result<[f32; 3], SentimentError>;
}

/// The student on the native int8 kernel: allocation-free per call.
#[derive(Debug)]
pub struct NativeModel {
    student: NativeStudent,
    scratch: StudentScratch,
    model_id: u32,
}

impl NativeModel {
    pub fn new(student: NativeStudent, model_id: u32) -> Self {
        Self { student, scratch: StudentScratch::new(), model_id }
    }
}

impl SentimentModel for NativeModel {
    fn model_id(&self) -> u32 {
        self.model_id
    }
    fn probabilities(&mut self, text: &str) -> Result<[f32; 3], SentimentError> {
        Ok(self.student.predict(text, &mut self.scratch))
    }
}

/// The same model file run by ONNX Runtime.
#[derive(Debug)]
pub struct OnnxRuntimeModel {
    student: OrtStudent,
    model_id: u32,
}

impl OnnxRuntimeModel {
    pub fn new(student: OrtStudent, model_id: u32) -> Self {
        Self { student, model_id }
    }
}

impl SentimentModel for OnnxRuntimeModel {
    fn model_id(&self) -> u32 {
        self.model_id
    }
    fn probabilities(&mut self, text: &str) -> Result<[f32; 3], SentimentError> {
        self.student.predict(text).map_err(|e| SentimentError::Model(e.to_string()))
    }
}

/// Why a text was not scored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SentimentError {
    #[error("empty text")]
    Empty,
    #[error("text is not UTF-8 (valid up to byte {valid_up_to})")]
    InvalidUtf8 { valid_up_to: usize },
    #[error("model failed: {0}")]
    Model(String),
}

/// A text arriving at SentimentX, as raw bytes from the feed.
#[derive(Debug, Clone, Copy)]
pub struct TextEvent<'a> {
    /// Publication time (Unix ns, the source's clock).
    pub ts_ns: u64,
    pub bytes: &'a [u8],
}

/// What happened to the texts so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SentimentStats {
    pub scored: u64,
    pub truncated: u64,
    pub rejected_empty: u64,
    pub rejected_invalid_utf8: u64,
    pub model_errors: u64,
}

/// A scored text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    pub probabilities: [f32; 3],
    /// −10 ..= +10.
    pub score: i8,
    /// 0 ..= 10,000 basis points: the largest class probability.
    pub confidence_bp: u16,
    pub truncated: bool,
}

/// The largest class probability, in basis points.
pub fn confidence_of(probabilities: &[f32; 3]) -> u16 {
    let max = probabilities.iter().copied().fold(0.0f32, f32::max);
    (max.clamp(0.0, 1.0) * f32::from(CONFIDENCE_MAX_BP)).round() as u16
}

/// The first [`MAX_TEXT_CHARS`] characters of `text`, and whether it was cut.
pub fn truncate_to_limit(text: &str) -> (&str, bool) {
    match text.char_indices().nth(MAX_TEXT_CHARS) {
        Some((cut, _)) => (&text[..cut], true),
        None => (text, false),
    }
}

/// SentimentX: scores texts with a [`SentimentModel`] and attributes them to
/// assets with an [`AliasTable`].
#[derive(Debug)]
pub struct SentimentX<M> {
    model: M,
    aliases: AliasTable,
    origin_node: u32,
    sequence: u64,
    stats: SentimentStats,
}

impl<M: SentimentModel> SentimentX<M> {
    pub fn new(model: M, aliases: AliasTable, origin_node: u32) -> Self {
        Self { model, aliases, origin_node, sequence: 0, stats: SentimentStats::default() }
    }

    pub fn stats(&self) -> SentimentStats {
        self.stats
    }

    pub fn aliases(&self) -> &AliasTable {
        &self.aliases
    }

    /// Validate, truncate and score raw bytes; counts what it rejects.
    pub fn score_bytes(&mut self, bytes: &[u8]) -> Result<Scored, SentimentError> {
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(err) => {
                self.stats.rejected_invalid_utf8 += 1;
                return Err(SentimentError::InvalidUtf8 { valid_up_to: err.valid_up_to() });
            }
        };
        self.score_text(text)
    }

    /// Truncate and score a text; counts what it rejects.
    pub fn score_text(&mut self, text: &str) -> Result<Scored, SentimentError> {
        if text.trim().is_empty() {
            self.stats.rejected_empty += 1;
            return Err(SentimentError::Empty);
        }
        let (text, truncated) = truncate_to_limit(text);
        self.stats.truncated += u64::from(truncated);
        let probabilities = self.model.probabilities(text).inspect_err(|_| self.stats.model_errors += 1)?;
        self.stats.scored += 1;
        Ok(Scored {
            probabilities,
            score: sentiment_score(&probabilities),
            confidence_bp: confidence_of(&probabilities),
            truncated,
        })
    }
}

impl<M: SentimentModel> IngestAgent<TextEvent<'_>> for SentimentX<M> {
    fn name(&self) -> &'static str {
        "sentimentx"
    }

    fn on_event(&mut self, _ctx: AgentContext, event: &TextEvent<'_>, out: &mut Outbox) -> Result<(), AgentError> {
        let scored = self.score_bytes(event.bytes).map_err(|err| AgentError::Rejected {
            agent: "sentimentx",
            detail: match err {
                SentimentError::Empty => "empty text",
                SentimentError::InvalidUtf8 { .. } => "text is not UTF-8",
                SentimentError::Model(_) => "model failed",
            },
        })?;
        // Valid UTF-8 was checked by `score_bytes`; look the assets up in the same (truncated) text.
        let text = std::str::from_utf8(event.bytes).map(|t| truncate_to_limit(t).0).unwrap_or_default();
        let mut assets = [AssetId::from_wire(0); MAX_ASSETS_PER_TEXT];
        let found = self.aliases.assets_in(text, &mut assets);
        let model_id = self.model.model_id();
        for &asset in &assets[..found] {
            self.sequence += 1;
            out.emit(
                self.origin_node,
                self.sequence,
                &SentimentSignal::new(asset, scored.score, scored.confidence_bp, event.ts_ns, model_id),
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use qp_wire::{AssetRegistry, FrameType, decode_as};

    use super::*;

    /// A stand-in model: bullish if the text says "up", bearish if "down".
    struct KeywordModel;
    impl SentimentModel for KeywordModel {
        fn model_id(&self) -> u32 {
            42
        }
        fn probabilities(&mut self, text: &str) -> Result<[f32; 3], SentimentError> {
            Ok(if text.contains("up") {
                [0.05, 0.9, 0.05]
            } else if text.contains("down") {
                [0.8, 0.1, 0.1]
            } else {
                [0.1, 0.1, 0.8]
            })
        }
    }

    fn agent() -> (SentimentX<KeywordModel>, AssetRegistry) {
        let mut registry = AssetRegistry::new();
        let table = "[[asset]]\nsymbol = \"DB\"\naliases = [\"Deutsche Bank\"]\n[[group]]\nsymbol = \"EU_BANKS\"\naliases = [\"European banks\"]\n";
        let aliases = AliasTable::from_toml(table, "test", &mut registry).unwrap();
        (SentimentX::new(KeywordModel, aliases, 3), registry)
    }

    fn signals(agent: &mut SentimentX<KeywordModel>, bytes: &[u8]) -> Result<Vec<SentimentSignal>, AgentError> {
        let mut out = Outbox::new("test");
        agent.on_event(AgentContext { now_ns: 0 }, &TextEvent { ts_ns: 7, bytes }, &mut out)?;
        Ok(out.pending().iter().map(|f| *decode_as::<SentimentSignal>(f.as_frame_bytes()).unwrap().payload).collect())
    }

    #[test]
    fn score_and_confidence_follow_the_formula() {
        assert_eq!(sentiment_score(&[0.05, 0.9, 0.05]), 9);
        assert_eq!(sentiment_score(&[0.8, 0.1, 0.1]), -7);
        assert_eq!(sentiment_score(&[1.0, 0.0, 0.0]), -10);
        assert_eq!(sentiment_score(&[0.1, 0.1, 0.8]), 0);
        assert_eq!(sentiment_score(&[f32::NAN, 0.0, 0.0]), 0);
        assert_eq!(confidence_of(&[0.05, 0.9, 0.05]), 9_000);
    }

    #[test]
    fn one_signal_per_named_asset_or_one_market_signal() {
        let (mut agent, registry) = agent();
        let out = signals(&mut agent, b"Deutsche Bank and European banks up on rates").unwrap();
        let named: Vec<_> = out.iter().map(|s| registry.symbol(s.asset()).unwrap()).collect();
        assert_eq!(named, ["DB", "EU_BANKS"]);
        assert!(out.iter().all(|s| s.score == 9 && s.confidence_bp == 9_000 && s.model_id.get() == 42));
        assert_eq!(out[0].source_ts_ns.get(), 7);
        let out = signals(&mut agent, b"Stocks down across the board").unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(registry.symbol(out[0].asset()), Some("MARKET"));
        assert_eq!(out[0].score, -7);
        assert_eq!(FrameType::Sentiment, <SentimentSignal as qp_wire::Payload>::FRAME_TYPE);
    }

    #[test]
    fn long_texts_are_cut_at_280_characters_on_a_char_boundary() {
        let (mut agent, _) = agent();
        // 279 two-byte characters then " up": the "up" lies past the limit.
        let text = format!("{} up", "é".repeat(279));
        let scored = agent.score_text(&text).unwrap();
        assert!(scored.truncated);
        assert_eq!(scored.score, 0, "scored on the first 280 characters only");
        assert_eq!(truncate_to_limit(&text).0.chars().count(), 280);
        assert_eq!(agent.stats().truncated, 1);
        assert!(!agent.score_text("short and up").unwrap().truncated);
    }

    #[test]
    fn empty_and_invalid_utf8_are_counted_typed_errors() {
        let (mut agent, _) = agent();
        assert_eq!(agent.score_bytes(b"").unwrap_err(), SentimentError::Empty);
        assert_eq!(agent.score_bytes(b"   \n").unwrap_err(), SentimentError::Empty);
        assert_eq!(agent.score_bytes(b"ok \xff\xfe").unwrap_err(), SentimentError::InvalidUtf8 { valid_up_to: 3 });
        let err = signals(&mut agent, b"\xc3").unwrap_err();
        assert_eq!(err.to_string(), "sentimentx: text is not UTF-8");
        let stats = agent.stats();
        assert_eq!((stats.rejected_empty, stats.rejected_invalid_utf8, stats.scored), (2, 2, 0));
        // And the agent keeps working.
        assert_eq!(signals(&mut agent, b"Deutsche Bank up").unwrap().len(), 1);
    }
}
