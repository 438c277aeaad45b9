//! An image's golden values: the measurement log its PID 1 will write and the value the product
//! PCR will then hold. `qpctl image build` predicts them from the image's own files and publishes
//! them beside the image (`golden.json`); the verifier compares a node's quote and log with the
//! golden values of the image the node claims to run.
//!
//! JSON, one object:
//!
//! ```json
//! {"format": "qp-golden v1", "image_id": "local-0.1.0-09bc0945b2974cf0", "variant": "local",
//!  "version": "0.1.0", "pcr": 15, "pcr_value": "<64 hex>", "log": "<the encoded log>"}
//! ```
//!
//! The decoder checks what it can without a TPM: the log decodes strictly, and replaying it gives
//! `pcr_value` (a golden file that contradicts itself is refused, not trusted half).
use crate::log::{LogError, MeasurementLog};
use crate::{Digest32, hex};

const FORMAT: &str = "qp-golden v1";
/// The largest golden file the decoder reads.
pub const MAX_GOLDEN_BYTES: usize = 2 << 20;
const MAX_ID: usize = 128;

/// What an image's PID 1 will measure, and the product PCR's value after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoldenValues {
    /// Names the image: `<variant>-<version>-<first 16 hex digits of the dm-verity root hash>`.
    pub image_id: String,
    pub variant: String,
    pub version: String,
    /// The PCR the log extends.
    pub pcr: u8,
    /// The PCR's value after the log, from its reset value (all zero).
    pub pcr_value: Digest32,
    pub log: MeasurementLog,
}

/// A golden file was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GoldenError {
    #[error("golden values are {bytes} bytes, over the {max}-byte limit")]
    TooLarge { bytes: usize, max: usize },
    #[error("golden values: not the expected JSON object: {0}")]
    Json(String),
    #[error("golden values: format is not \"{FORMAT}\"")]
    Format,
    #[error("golden values: {field} is not valid: {problem}")]
    Field { field: &'static str, problem: &'static str },
    #[error("golden values: the log: {0}")]
    Log(#[from] LogError),
    #[error("golden values: replaying the log does not give pcr_value")]
    Inconsistent,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct GoldenJson {
    format: String,
    image_id: String,
    variant: String,
    version: String,
    pcr: u8,
    pcr_value: String,
    log: String,
}

/// The image id of a build: `<variant>-<version>-<16 hex digits of the verity root hash>`.
pub fn image_id(variant: &str, version: &str, verity_root_hash: &Digest32) -> String {
    format!("{variant}-{version}-{}", &hex(verity_root_hash)[..16])
}

impl GoldenValues {
    /// The golden values of `log`, extended into `pcr` from its reset value.
    pub fn new(image_id: String, variant: String, version: String, pcr: u8, log: MeasurementLog) -> Self {
        let pcr_value = log.replay(pcr, [0; 32]);
        Self { image_id, variant, version, pcr, pcr_value, log }
    }

    pub fn to_json(&self) -> String {
        let json = GoldenJson {
            format: FORMAT.to_owned(),
            image_id: self.image_id.clone(),
            variant: self.variant.clone(),
            version: self.version.clone(),
            pcr: self.pcr,
            pcr_value: hex(&self.pcr_value),
            log: self.log.encode(),
        };
        // A struct of strings and an integer always serializes.
        serde_json::to_string_pretty(&json).unwrap_or_default() + "\n"
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, GoldenError> {
        if bytes.len() > MAX_GOLDEN_BYTES {
            return Err(GoldenError::TooLarge { bytes: bytes.len(), max: MAX_GOLDEN_BYTES });
        }
        let json: GoldenJson = serde_json::from_slice(bytes).map_err(|err| GoldenError::Json(err.to_string()))?;
        if json.format != FORMAT {
            return Err(GoldenError::Format);
        }
        let field_ok = |value: &str| {
            !value.is_empty()
                && value.len() <= MAX_ID
                && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        };
        if !field_ok(&json.image_id) {
            return Err(GoldenError::Field { field: "image_id", problem: "1-128 bytes of [A-Za-z0-9._-]" });
        }
        if !field_ok(&json.variant) {
            return Err(GoldenError::Field { field: "variant", problem: "1-128 bytes of [A-Za-z0-9._-]" });
        }
        if !field_ok(&json.version) {
            return Err(GoldenError::Field { field: "version", problem: "1-128 bytes of [A-Za-z0-9._-]" });
        }
        if json.pcr > 23 {
            return Err(GoldenError::Field { field: "pcr", problem: "not 0..=23" });
        }
        let pcr_value = parse_digest(&json.pcr_value)
            .ok_or(GoldenError::Field { field: "pcr_value", problem: "not 64 lower-case hex digits" })?;
        let log = MeasurementLog::decode(json.log.as_bytes())?;
        if log.replay(json.pcr, [0; 32]) != pcr_value {
            return Err(GoldenError::Inconsistent);
        }
        Ok(Self {
            image_id: json.image_id,
            variant: json.variant,
            version: json.version,
            pcr: json.pcr,
            pcr_value,
            log,
        })
    }
}

/// 64 lower-case hex digits as a digest.
pub fn parse_digest(text: &str) -> Option<Digest32> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (index, pair) in bytes.chunks_exact(2).enumerate() {
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        out[index] = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code
    use super::*;
    use crate::log::{KIND_CONFIG, KIND_VERITY_ROOT_HASH, Measurement};

    fn golden() -> GoldenValues {
        let mut log = MeasurementLog::new();
        log.append(Measurement::new(15, KIND_VERITY_ROOT_HASH, "root", [7; 32])).unwrap();
        log.append(Measurement::of_bytes(15, KIND_CONFIG, "/etc/qp/manifest.toml", b"variant = \"local\"")).unwrap();
        GoldenValues::new(image_id("local", "0.1.0", &[7; 32]), "local".into(), "0.1.0".into(), 15, log)
    }

    #[test]
    fn round_trips_and_refuses_a_contradiction() {
        let golden = golden();
        assert_eq!(golden.image_id, "local-0.1.0-0707070707070707");
        let text = golden.to_json();
        assert_eq!(GoldenValues::from_json(text.as_bytes()).unwrap(), golden);
        let wrong = text.replace(&hex(&golden.pcr_value), &hex(&[0; 32]));
        assert_eq!(GoldenValues::from_json(wrong.as_bytes()), Err(GoldenError::Inconsistent));
        let unknown = text.replacen('{', "{\"extra\": 1,", 1);
        assert!(matches!(GoldenValues::from_json(unknown.as_bytes()), Err(GoldenError::Json(_))));
        assert!(matches!(GoldenValues::from_json(b"\xff\x00"), Err(GoldenError::Json(_))));
    }
}
