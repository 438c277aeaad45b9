//! What PID 1 measures at boot, in one fixed order, before it starts anything from the root; and
//! the same computation over a staging folder, which is how `qpctl image build` predicts the
//! image's golden values. One function serves both, so the prediction cannot drift from what
//! the node does.
//!
//! The order (all into [`PCR_PRODUCT`]):
//! 1. the dm-verity root hash (`verity-root-hash root`): it pins every byte of the root,
//!    the shared libraries of the TPM service included;
//! 2. the image manifest (`config /etc/qp/manifest.toml`);
//! 3. every regular file under `/usr/share/qp`, by path (`model …`);
//! 4. each service program, once, in the manifest's order (`service-binary …`).
//!
//! Per-node files on `/data` (the node's bridge configuration, its identity) are not measured
//! into the product PCR: they differ per node, and no golden value could predict them.
use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use qp_attest_core::log::{
    KIND_CONFIG, KIND_MODEL, KIND_SERVICE_BINARY, KIND_VERITY_ROOT_HASH, LogError, Measurement, MeasurementLog,
};

use crate::Manifest;

/// The PCR the product's measurements go into (see `node-os/tpm/DESIGN.md`: not resettable from
/// locality 0, and unused by this image's boot chain).
pub const PCR_PRODUCT: u8 = 15;
/// Where the image manifest is, in the root.
pub const MANIFEST_PATH: &str = "/etc/qp/manifest.toml";
/// The folder of model files (and other data the agents load), in the root.
pub const MODELS_DIR: &str = "/usr/share/qp";
/// Where PID 1 writes the event log (tmpfs), for the TPM service to send with quotes.
pub const LOG_PATH: &str = "/run/qp/measurements.log";

/// A file of the plan could not be read whole (on the node: dm-verity refused a block).
#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    #[error("{}: cannot be read whole ({source}): not verified", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: {source}", path.display())]
    Walk { path: PathBuf, source: std::io::Error },
    #[error("measurement log: {0}")]
    Log(#[from] LogError),
}

/// The boot measurements, and the files that could not be read (and so were not measured).
#[derive(Debug)]
pub struct BootMeasurements {
    pub log: MeasurementLog,
    /// A file that fails to read is skipped: its event is missing from the log (attestation then
    /// fails against the golden values) and a program among them is never started.
    pub unreadable: Vec<MeasureError>,
}

/// The boot measurements of the root at `root` ("/" on the node, the staging folder in the image
/// build), for `manifest` and the dm-verity root hash.
pub fn boot_measurements(
    root: &Path,
    manifest: &Manifest,
    verity_root_hash: &[u8; 32],
) -> Result<BootMeasurements, MeasureError> {
    let mut log = MeasurementLog::new();
    let mut unreadable = Vec::new();
    log.append(Measurement::new(PCR_PRODUCT, KIND_VERITY_ROOT_HASH, "root", *verity_root_hash))?;
    let file = |path: &str| root.join(path.trim_start_matches('/'));
    let mut planned = vec![(KIND_CONFIG, MANIFEST_PATH.to_owned())];
    let mut models = Vec::new();
    collect_files(&file(MODELS_DIR), Path::new(MODELS_DIR), &mut models)?;
    models.sort();
    planned.extend(models.into_iter().map(|name| (KIND_MODEL, name.to_string_lossy().into_owned())));
    let mut seen = BTreeSet::new();
    for service in &manifest.services {
        let program = service.program.to_string_lossy().into_owned();
        if seen.insert(program.clone()) {
            planned.push((KIND_SERVICE_BINARY, program));
        }
    }
    for (kind, name) in planned {
        match file_digest(&file(&name)) {
            Ok(digest) => log.append(Measurement::new(PCR_PRODUCT, kind, &name, digest))?,
            Err(err) => unreadable.push(err),
        }
    }
    Ok(BootMeasurements { log, unreadable })
}

/// SHA-256 of a whole file.
pub fn file_digest(path: &Path) -> Result<[u8; 32], MeasureError> {
    use sha2::Digest;
    let read = |source| MeasureError::Read { path: path.to_owned(), source };
    let mut file = std::fs::File::open(path).map_err(read)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(read(err)),
        }
    }
    Ok(hasher.finalize().into())
}

/// Regular files under `dir` (absent: none), named as under `name`.
fn collect_files(dir: &Path, name: &Path, out: &mut Vec<PathBuf>) -> Result<(), MeasureError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(MeasureError::Walk { path: dir.to_owned(), source }),
    };
    for entry in entries {
        let entry = entry.map_err(|source| MeasureError::Walk { path: dir.to_owned(), source })?;
        let kind = entry.file_type().map_err(|source| MeasureError::Walk { path: entry.path(), source })?;
        if kind.is_dir() {
            collect_files(&entry.path(), &name.join(entry.file_name()), out)?;
        } else if kind.is_file() {
            out.push(name.join(entry.file_name()));
        }
    }
    Ok(())
}

/// PID 1's start gate once the boot measurements are taken: a program runs only if it was read
/// whole and measured (and so quoted) at boot. It is not read again: the root is read-only under
/// dm-verity, and a second read would come from the page cache the measurement filled.
#[derive(Debug)]
pub struct MeasuredPrograms {
    digests: std::collections::BTreeMap<PathBuf, [u8; 32]>,
}

impl MeasuredPrograms {
    /// The service programs' digests from a boot measurement log.
    pub fn from_log(log: &MeasurementLog) -> Self {
        let digests = log
            .events()
            .iter()
            .filter(|event| event.kind == KIND_SERVICE_BINARY)
            .map(|event| (PathBuf::from(&event.name), event.digest))
            .collect();
        Self { digests }
    }
}

impl crate::StartGate for MeasuredPrograms {
    fn check(&mut self, spec: &crate::ServiceSpec) -> Result<[u8; 32], String> {
        self.digests
            .get(&spec.program)
            .copied()
            .ok_or_else(|| format!("{}: was not measured at boot", spec.program.display()))
    }
}
