#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! Image builds end to end (no boot: the QEMU tests do that). They need the guest kernel that
//! `cargo xtask setup` extracts (`$QP_GUEST_KERNEL_DIR`, else `.cache/kernel/*`) and the image
//! tools; without them they fail and say so.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use indicatif::ProgressBar;
use qp_image::inspect::{self, Area, ImageListing};
use qp_image::{ImageError, ImageSpec, NodeBinary, Variant};

fn kernel_dir() -> PathBuf {
    qp_image::default_kernel_dir(&qp_image::workspace_root())
        .unwrap_or_else(|e| panic!("{e}\n(the image tests need the guest kernel: run `cargo xtask setup`)"))
}

/// A tiny static executable standing in for qp-node where only the image's shape matters.
fn stand_in() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("qp-image-stand-in");
        std::fs::create_dir_all(&dir).unwrap();
        let source = dir.join("main.rs");
        std::fs::write(&source, "fn main() { println!(\"qp-node stand-in\"); }\n").unwrap();
        let binary = dir.join("qp-node");
        let status = Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
            .args(["--edition", "2021", "--target", "x86_64-unknown-linux-gnu", "-C", "target-feature=+crt-static"])
            .args(["-C", "opt-level=s", "-C", "strip=symbols", "-o"])
            .arg(&binary)
            .arg(&source)
            .status()
            .unwrap();
        assert!(status.success(), "rustc could not build the stand-in");
        binary
    })
}

fn spec(variant: Variant, out: &Path) -> ImageSpec {
    let mut spec = ImageSpec::new(variant, out, kernel_dir());
    spec.node_binary = NodeBinary::Prebuilt(stand_in().to_owned());
    spec.attestd_binary = Some(stand_in().to_owned());
    spec
}

fn build(spec: &ImageSpec) -> qp_image::BuiltImage {
    qp_image::build(spec, &ProgressBar::hidden()).unwrap_or_else(|e| panic!("image build failed: {e}"))
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const MIB: u64 = 1024 * 1024;

/// The partitions in their order on the disk.
const LABELS: [&str; 6] = ["qp-esp", "qp-root-a", "qp-verity-a", "qp-root-b", "qp-verity-b", "qp-data"];

/// A partition of a build by label.
fn partition<'a>(built: &'a qp_image::BuiltImage, label: &str) -> &'a qp_image::BuiltPartition {
    built.partitions.iter().find(|p| p.name == label).unwrap_or_else(|| panic!("no {label}"))
}

/// The six partitions in order, 1 MiB-aligned; slot B of slot A's types and sizes and empty; the
/// disk the sum of the partitions and 2 MiB of tables and alignment.
fn check_slots(built: &qp_image::BuiltImage, listing: &ImageListing) {
    let names: Vec<&str> = built.partitions.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, LABELS);
    let on_disk: Vec<&str> = listing.partitions.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(on_disk, LABELS, "the GPT read back");
    assert!(built.partitions.iter().all(|p| p.offset_bytes % MIB == 0 && p.size_bytes % MIB == 0));
    for (a, b) in [("qp-root-a", "qp-root-b"), ("qp-verity-a", "qp-verity-b")] {
        let (a, b) = (partition(built, a), partition(built, b));
        assert_eq!((&a.type_guid, a.size_bytes), (&b.type_guid, b.size_bytes), "{} and {}", a.name, b.name);
        assert_ne!(a.guid, b.guid);
        assert!(a.content_bytes > 0 && b.content_bytes == 0);
    }
    assert_eq!(partition(built, "qp-root-a").size_bytes, built.sizes.root_partition_bytes);
    assert_eq!(partition(built, "qp-verity-a").size_bytes, built.sizes.verity_partition_bytes);
    assert_eq!(partition(built, "qp-data").size_bytes, built.sizes.data_bytes);
    assert!(listing.is_blank("qp-root-b") && listing.is_blank("qp-verity-b"), "slot B holds only zeros");
    assert!(!listing.is_blank("qp-root-a") && !listing.is_blank("qp-verity-a"));
    let sum: u64 = built.partitions.iter().map(|p| p.size_bytes).sum();
    assert_eq!(built.sizes.disk_bytes, sum + 2 * MIB);
    let rendered = listing.render();
    for label in LABELS {
        assert!(rendered.contains(&format!("partition {label} ")), "{rendered}");
    }
    assert!(rendered.lines().any(|l| l.contains("qp-root-b") && l.ends_with("(zeros)")), "{rendered}");
}

/// The `.osrel` section of a UKI, as text.
fn osrel(uki: &Path) -> String {
    let bytes = std::fs::read(uki).unwrap();
    let image = qp_image::pe::PeImage::parse(&bytes).unwrap();
    String::from_utf8(image.section_data(&bytes, ".osrel").unwrap().to_vec()).unwrap().trim_end_matches('\0').to_owned()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A stand-in for the update repository's `metadata/1.root.json`.
const UPDATE_ROOT: &str = "{\"signed\": {\"_type\": \"root\", \"version\": 1}, \"signatures\": []}\n";

/// Linux's own tools read the partition table we wrote.
fn check_with_linux_tools(disk: &Path, labels: &[&str]) {
    let output = Command::new("partx").args(["--show", "-o", "NAME"]).arg(disk).output().unwrap();
    assert!(output.status.success(), "partx: {}", String::from_utf8_lossy(&output.stderr));
    let shown = String::from_utf8_lossy(&output.stdout);
    for label in labels {
        assert!(shown.lines().any(|l| l.trim() == *label), "partx does not show {label}: {shown}");
    }
    for (tool, args) in [("sfdisk", &["--verify"][..]), ("sgdisk", &["-v"][..])] {
        if let Ok(output) = Command::new(tool).args(args).arg(disk).output() {
            let text = String::from_utf8_lossy(&output.stdout);
            assert!(output.status.success(), "{tool}: {text} {}", String::from_utf8_lossy(&output.stderr));
            assert!(!text.to_lowercase().contains("problem") || text.contains("No problems found"), "{tool}: {text}");
        }
    }
}

#[test]
fn two_builds_from_the_same_inputs_are_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed");
    write(&seed.join("node.toml"), "name = \"test\"\n");
    write(&seed.join("certs/fleet-ca.crt"), "not really a certificate\n");
    let models = dir.path().join("models");
    write(&models.join("sentiment/student.onnx"), "model bytes");
    let update_root = dir.path().join("repo/metadata/1.root.json");
    write(&update_root, UPDATE_ROOT);

    let mut first = spec(Variant::Local, &dir.path().join("a"));
    first.data_seed = Some(seed.clone());
    first.models = Some(models.clone());
    first.update_root = Some(update_root.clone());
    first.release = 7;
    let a = build(&first);
    // Time passes between builds, and the inputs' files are touched: nothing may change.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(seed.join("node.toml"), "name = \"test\"\n").unwrap();
    std::fs::write(&update_root, UPDATE_ROOT).unwrap();
    let mut second = first.clone();
    second.out_dir = dir.path().join("b");
    let b = build(&second);

    for file in qp_image::OUTPUT_FILES {
        let x = std::fs::read(dir.path().join("a").join(file)).unwrap();
        let y = std::fs::read(dir.path().join("b").join(file)).unwrap();
        assert!(x == y, "{file} differs between two builds of the same inputs");
    }
    assert_eq!(a.disk_sha256, b.disk_sha256);
    // Slot B's kernel image differs from slot A's only in the slot its command line names.
    let unpacked = dir.path().join("uki-unpacked");
    let (cmdline_a, _) = qp_image::inspect::read_uki(&dir.path().join("a/uki.efi"), &unpacked.join("a")).unwrap();
    let (cmdline_b, _) = qp_image::inspect::read_uki(&dir.path().join("a/uki-b.efi"), &unpacked.join("b")).unwrap();
    assert!(cmdline_a.contains("qp.slot=a") && cmdline_b.contains("qp.slot=b"), "{cmdline_a} / {cmdline_b}");
    assert_eq!(cmdline_a.replace("qp.slot=a", "qp.slot=b"), cmdline_b);

    // Other inputs, other ids: a new version gets a new salt, root hash and disk GUID.
    let mut third = first.clone();
    third.out_dir = dir.path().join("c");
    third.version = "0.1.1".into();
    let c = build(&third);
    assert_ne!(c.verity.salt, a.verity.salt);
    assert_ne!(c.verity.root_hash, a.verity.root_hash);
    assert_ne!(c.disk_guid, a.disk_guid);
    // So does another release number, or another update root.
    let mut fourth = first.clone();
    fourth.out_dir = dir.path().join("d");
    fourth.release = 8;
    let d = build(&fourth);
    assert_ne!(d.inputs_sha256, a.inputs_sha256);
    assert_ne!(d.verity.root_hash, a.verity.root_hash, "the root's build-info.json names the release");
    assert_ne!(d.disk_guid, a.disk_guid);
    let other_root = dir.path().join("other-root.json");
    write(&other_root, "{\"signed\": {\"_type\": \"root\", \"version\": 2}}");
    let mut fifth = first.clone();
    fifth.out_dir = dir.path().join("e");
    fifth.update_root = Some(other_root);
    let e = build(&fifth);
    assert_ne!(e.inputs.0["update_root_sha256"], a.inputs.0["update_root_sha256"]);
    assert_ne!(e.disk_guid, a.disk_guid);

    // The release: top-level in build-info.json and in the root's copy, the inputs, and the UKIs'
    // IMAGE_VERSION (what systemd-boot sorts entries by); the version string stays in VERSION_ID.
    assert_eq!(a.release, 7);
    assert_eq!(json(&dir.path().join("a/build-info.json"))["release"], 7);
    assert_eq!(a.inputs.0["release"], "7");
    assert_eq!(a.inputs.0["update_root_sha256"], qp_image::inputs::sha256_hex(UPDATE_ROOT.as_bytes()));
    for uki in ["uki.efi", "uki-b.efi"] {
        let text = osrel(&dir.path().join("a").join(uki));
        let lines: Vec<&str> = text.lines().collect();
        for line in
            ["IMAGE_VERSION=7", "IMAGE_ID=qp-local", "VERSION_ID=0.1.0", "PRETTY_NAME=\"QuantPype Node 0.1.0 (local)\""]
        {
            assert!(lines.contains(&line), "{uki}: {line} not in {text}");
        }
    }
    assert!(osrel(&dir.path().join("d/uki.efi")).lines().any(|l| l == "IMAGE_VERSION=8"));

    // The disk is what PID 1 expects, and Linux reads it.
    check_with_linux_tools(&a.disk_path(), &LABELS);
    assert_eq!(inspect::verify_root(&dir.path().join("a")).unwrap(), a.verity.root_hash);

    let scratch = tempfile::tempdir().unwrap();
    let listing = inspect::extract(&dir.path().join("a"), scratch.path()).unwrap();
    check_slots(&a, &listing);
    // Slot A's partitions are as large as the root and its tree need, in whole MiB.
    assert_eq!(a.sizes.root_partition_bytes, a.sizes.root_bytes.div_ceil(MIB) * MIB);
    assert_eq!(a.sizes.verity_partition_bytes, MIB);
    assert_eq!(a.sizes.verity_bytes, qp_image::rootfs::hash_tree_bytes(a.verity.data_blocks));
    assert_eq!(a.sizes.data_bytes, qp_image::DEFAULT_DATA_MIB * MIB);
    // The update root, byte for byte, and the release in the root's build record.
    let update_root_in_root = scratch.path().join("root/etc/qp/update-root.json");
    assert_eq!(std::fs::read_to_string(&update_root_in_root).unwrap(), UPDATE_ROOT);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&update_root_in_root).unwrap().permissions().mode() & 0o7777, 0o644);
    let in_root = json(&scratch.path().join("root/etc/qp/build-info.json"));
    assert_eq!(in_root["release"], 7);
    assert_eq!(in_root["image_version"], "0.1.0");

    // The golden values: what PID 1 will measure of this root, recomputed here from the files
    // extracted from the disk (not the builder's staging folder), give the published PCR value.
    let golden = qp_attest_core::golden::GoldenValues::from_json(
        &std::fs::read(dir.path().join("a").join(qp_image::GOLDEN_FILE)).unwrap(),
    )
    .unwrap();
    assert_eq!(golden.image_id, a.image_id);
    assert_eq!(qp_attest_core::hex(&golden.pcr_value), a.golden_pcr_value);
    let manifest = qp_supervisor::Manifest::load(&scratch.path().join("root/etc/qp/manifest.toml")).unwrap();
    let root_hash = qp_attest_core::golden::parse_digest(&a.verity.root_hash).unwrap();
    let measured = qp_supervisor::boot_measurements(&scratch.path().join("root"), &manifest, &root_hash).unwrap();
    assert!(measured.unreadable.is_empty());
    assert_eq!(measured.log, golden.log);
    let names: Vec<&str> = golden.log.events().iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names[..2], ["root", "/etc/qp/manifest.toml"]);
    assert!(names.contains(&"/usr/bin/qp-attestd") && names.contains(&"/usr/bin/qp-node"), "{names:?}");
    let cmdline = listing.cmdline.clone().unwrap();
    assert!(cmdline.starts_with("console=ttyS0,115200 "), "{cmdline}");
    for word in [
        "qp.slot=a".to_owned(),
        format!("qp.verity.root={}", a.verity.root_hash),
        format!("qp.verity.salt={}", a.verity.salt),
        format!("qp.verity.data_blocks={}", a.verity.data_blocks),
    ] {
        assert!(cmdline.split_whitespace().any(|w| w == word), "{word} not in {cmdline}");
    }
    // The UKI is slot A's committed boot entry, named as the update service names entries.
    let entry = format!("/EFI/Linux/qp-a-{}.efi", a.image_id);
    assert_eq!(a.uki_path, entry);
    for (area, path) in [
        (Area::Esp, "/EFI/BOOT/BOOTX64.EFI"),
        (Area::Esp, entry.as_str()),
        (Area::Esp, "/loader/loader.conf"),
        (Area::Initramfs, "/init"),
        (Area::Initramfs, "/dev/console"),
        (Area::Initramfs, "/etc/qp/initrd.toml"),
        (Area::Initramfs, "/sysroot"),
        (Area::Root, "/usr/bin/qp-node"),
        (Area::Root, "/etc/qp/manifest.toml"),
        (Area::Root, "/etc/qp/build-info.json"),
        (Area::Root, "/etc/qp/update-root.json"),
        (Area::Root, "/usr/share/qp/sentiment/student.onnx"),
        (Area::Root, "/data"),
        (Area::Data, "/node.toml"),
        (Area::Data, "/certs/fleet-ca.crt"),
    ] {
        assert!(listing.contains(area, path), "{} has no {path}", area.as_str());
    }
    let loader = std::fs::read_to_string(scratch.path().join("esp/loader/loader.conf")).unwrap();
    assert!(loader.lines().any(|l| l == "timeout 0"), "{loader}");
    // initrd.toml names the modules, in load order, each present in the initramfs.
    let initrd = std::fs::read_to_string(scratch.path().join("initramfs/etc/qp/initrd.toml")).unwrap();
    let config: toml::Value = toml::from_str(&initrd).unwrap();
    assert_eq!(config["kernel_release"].as_str().unwrap(), a.kernel_release);
    let modules: Vec<&str> = config["modules"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    assert_eq!(modules, a.modules.iter().map(String::as_str).collect::<Vec<_>>());
    let wanted = ["virtio_pci.ko", "virtio_blk.ko", "dm-verity.ko", "erofs.ko", "ext4.ko", "i6300esb.ko"];
    for name in wanted.into_iter().chain(["fat.ko", "vfat.ko", "nls_cp437.ko", "nls_ascii.ko"]) {
        assert!(modules.iter().any(|m| m.ends_with(&format!("/{name}"))), "{name} not in {modules:?}");
    }
    let position = |name: &str| modules.iter().position(|m| m.ends_with(name)).unwrap();
    assert!(position("/dm-mod.ko") < position("/dm-verity.ko"));
    assert!(position("/jbd2.ko") < position("/ext4.ko"));
    assert!(position("/fat.ko") < position("/vfat.ko"));
    for module in &modules {
        assert!(listing.contains(Area::Initramfs, &format!("/lib/modules/{}/{module}", a.kernel_release)));
    }
    // The partitions pass their own checkers.
    let parts = scratch.path().join("partitions");
    for (tool, args, file) in [("fsck.vfat", &["-n"][..], "esp.vfat"), ("e2fsck", &["-f", "-n"][..], "data.ext4")] {
        let output = Command::new(tool).args(args).arg(parts.join(file)).output().unwrap();
        assert!(output.status.success(), "{tool} {file}: {}", String::from_utf8_lossy(&output.stdout));
    }
}

/// Scan a binary for a crate's source path (panic locations carry them).
fn carries(binary: &[u8], marker: &str) -> bool {
    binary.windows(marker.len()).any(|w| w == marker.as_bytes())
}

/// Source paths of crates that belong to the vault (decide, risk, execution, audit): none may be
/// in the cloud image's binary.
const VAULT_CRATES: &[&str] = &[
    "agents/risk-sentinel/",
    "agents/risk-model/",
    "agents/guardian/",
    "agents/alpha/",
    "agents/fix/",
    "agents/fix-store/",
    "agents/fix-venue/",
    "agents/fill-sim/",
    "agents/neural-arb/",
    "agents/liquidity-flow/",
    "node-os/audit/",
];

fn assert_no_vault_files(listing: &ImageListing) {
    for entry in &listing.entries {
        assert!(
            !qp_image::forbidden_in_cloud(&entry.path),
            "the cloud image holds {} in its {}",
            entry.path,
            entry.area.as_str()
        );
    }
}

/// The real binaries, built with each variant's features (cargo's output shows; the first run
/// compiles qp-node's dependencies for the static target, later runs reuse the target folder these
/// tests were built in: the workspace's `target/`, or `$CARGO_TARGET_DIR`).
#[test]
fn cloud_image_carries_no_vault_code_or_key_and_local_carries_its_services() {
    let dir = tempfile::tempdir().unwrap();
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().to_owned();
    let mut listings = Vec::new();
    for variant in [Variant::Cloud, Variant::Local] {
        let out = dir.path().join(variant.as_str());
        let mut spec = ImageSpec::new(variant, &out, kernel_dir());
        spec.node_binary = NodeBinary::Build { workspace: qp_image::workspace_root(), target_dir: target_dir.clone() };
        let built = build(&spec);
        eprintln!("{}", built.summary());
        let scratch = tempfile::tempdir().unwrap();
        let listing = inspect::extract(&out, scratch.path()).unwrap();
        check_slots(&built, &listing);
        let binary = std::fs::read(scratch.path().join("root/usr/bin/qp-node")).unwrap();
        let init = std::fs::read(scratch.path().join("initramfs/init")).unwrap();
        assert_eq!(binary, init, "/init and /usr/bin/qp-node are the same binary");
        let manifest = std::fs::read_to_string(scratch.path().join("root/etc/qp/manifest.toml")).unwrap();
        listings.push((variant, built, listing, binary, manifest));
    }
    let [(_, _, cloud, cloud_binary, cloud_manifest), (_, local_built, local, local_binary, local_manifest)] =
        listings.as_slice()
    else {
        unreachable!()
    };

    // Cloud: no vault path or key anywhere, no vault crate in the binary, the cloud service.
    assert_no_vault_files(cloud);
    for marker in VAULT_CRATES {
        assert!(!carries(cloud_binary, marker), "the cloud binary carries {marker}");
    }
    // The scan sees crates that are linked in: the cloud node's SentimentX is.
    assert!(carries(cloud_binary, "agents/sentiment/"), "the cloud binary should carry SentimentX");
    assert!(cloud_manifest.contains("variant = \"cloud\""));
    assert!(cloud_manifest.contains("name = \"bridge-cloud\""));
    assert!(!cloud_manifest.contains("bridge-local"));

    // Local: its own service, and none of the cloud's ingest code.
    assert!(local_manifest.contains("variant = \"local\""));
    assert!(local_manifest.contains("name = \"bridge-local\""));
    assert!(local_manifest.contains("\"--frames-out\", \"/data/frames.bin\""));
    assert!(!carries(local_binary, "agents/sentiment/"), "the local binary carries the cloud's SentimentX");
    assert!(local.contains(Area::Root, "/usr/bin/qp-node"));
    // Both slots and the data partition within the local image's target.
    assert!(
        local_built.sizes.disk_bytes <= qp_image::LOCAL_TARGET_MIB * MIB,
        "local image of {} bytes is above its {} MiB target",
        local_built.sizes.disk_bytes,
        qp_image::LOCAL_TARGET_MIB
    );
    assert!(local_built.summary().contains("within the local image's 64 MiB target (both slots)"));
}

/// `--root-mib`: both root partitions that size (the hash tree partitions sized for a root that
/// fills them), never smaller than the root; without `--update-root` the root has no update root;
/// release 1 unless another is given.
#[test]
fn root_partitions_take_the_size_asked_and_refuse_less_than_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let plain = build(&spec(Variant::Cloud, &dir.path().join("plain")));
    let scratch = tempfile::tempdir().unwrap();
    let listing = inspect::extract(&dir.path().join("plain"), scratch.path()).unwrap();
    check_slots(&plain, &listing);
    assert!(!listing.contains(Area::Root, "/etc/qp/update-root.json"), "no --update-root, no update root");
    assert!(!plain.inputs.0.contains_key("update_root_sha256") && !plain.inputs.0.contains_key("root_mib"));
    assert_eq!(plain.release, 1);
    assert_eq!(json(&dir.path().join("plain/build-info.json"))["release"], 1);
    assert_eq!(json(&scratch.path().join("root/etc/qp/build-info.json"))["release"], 1);
    assert!(osrel(&dir.path().join("plain/uki.efi")).lines().any(|l| l == "IMAGE_VERSION=1"));

    let needed = plain.sizes.root_bytes.div_ceil(MIB);
    assert_eq!(plain.sizes.root_partition_bytes, needed * MIB);
    assert!(needed > 1, "the root (the TPM service's shared objects) takes more than 1 MiB");
    let mut small = spec(Variant::Cloud, &dir.path().join("small"));
    small.root_mib = Some(needed - 1);
    let err = qp_image::build(&small, &ProgressBar::hidden()).unwrap_err().to_string();
    assert!(
        err.contains(&format!("--root-mib {}", needed - 1)) && err.contains(&format!("needs {needed} MiB")),
        "{err}"
    );
    assert!(!dir.path().join("small/disk.img").exists());

    let mut roomy = spec(Variant::Cloud, &dir.path().join("roomy"));
    roomy.root_mib = Some(needed + 40);
    let built = build(&roomy);
    let scratch = tempfile::tempdir().unwrap();
    let listing = inspect::extract(&dir.path().join("roomy"), scratch.path()).unwrap();
    check_slots(&built, &listing);
    assert_eq!(built.sizes.root_partition_bytes, (needed + 40) * MIB);
    assert_eq!(built.inputs.0["root_mib"], (needed + 40).to_string());
    // The tree of a root filling the partition fits its partition.
    assert!(qp_image::rootfs::hash_tree_bytes((needed + 40) * MIB / 4096) <= built.sizes.verity_partition_bytes);
    assert_eq!(built.sizes.disk_bytes, plain.sizes.disk_bytes + 2 * 40 * MIB);
    assert_eq!(inspect::verify_root(&dir.path().join("roomy")).unwrap(), built.verity.root_hash);
}

#[test]
fn a_missing_tool_is_one_error_naming_it_and_its_package() {
    let dir = tempfile::tempdir().unwrap();
    // A search path with every tool but veritysetup.
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let everywhere = qp_image::tools::Toolbox::new(None);
    for tool in qp_image::tools::BUILD_TOOLS {
        if tool.name != "veritysetup" {
            std::os::unix::fs::symlink(everywhere.find(*tool).unwrap(), bin.join(tool.name)).unwrap();
        }
    }
    let mut spec = spec(Variant::Cloud, &dir.path().join("out"));
    spec.search_path = Some(bin.into_os_string());
    let err = qp_image::build(&spec, &ProgressBar::hidden()).unwrap_err();
    assert!(matches!(err, ImageError::ToolMissing { .. }), "{err:?}");
    assert_eq!(err.to_string(), "veritysetup not found: apt-get install cryptsetup-bin (or run `cargo xtask setup`)");
    assert!(!dir.path().join("out/disk.img").exists());
}

#[test]
fn missing_or_wrong_inputs_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut no_kernel = spec(Variant::Local, &dir.path().join("out"));
    no_kernel.kernel_dir = dir.path().join("no-kernel");
    let err = qp_image::build(&no_kernel, &ProgressBar::hidden()).unwrap_err().to_string();
    assert!(err.contains("no-kernel") && err.contains("cargo xtask setup"), "{err}");

    let mut no_stub = spec(Variant::Local, &dir.path().join("out"));
    no_stub.systemd_boot_dir = dir.path().join("no-systemd-boot");
    let err = qp_image::build(&no_stub, &ProgressBar::hidden()).unwrap_err().to_string();
    assert!(err.contains("linuxx64.efi.stub") && err.contains("systemd-boot-efi"), "{err}");

    let manifest = dir.path().join("manifest.toml");
    write(&manifest, Variant::Local.default_manifest());
    let mut wrong_manifest = spec(Variant::Cloud, &dir.path().join("out"));
    wrong_manifest.manifest = Some(manifest);
    let err = qp_image::build(&wrong_manifest, &ProgressBar::hidden()).unwrap_err().to_string();
    assert!(err.contains("this is a cloud image"), "{err}");

    // A key in a cloud image's data seed is refused before anything is built.
    let seed = dir.path().join("seed");
    write(&seed.join("identity/node.key"), "secret");
    let mut keyed = spec(Variant::Cloud, &dir.path().join("out"));
    keyed.data_seed = Some(seed);
    let err = qp_image::build(&keyed, &ProgressBar::hidden()).unwrap_err().to_string();
    assert!(err.contains("node.key") && err.contains("cloud image"), "{err}");

    // The one key a cloud image's data partition may carry is its own cloud node's bridge key
    // (beside its certificate); a local (vault) node's key is refused.
    use qp_bridge_identity::{FleetCa, Role, Validity};
    let ca = FleetCa::init(&dir.path().join("ca"), "acme", std::time::Duration::from_secs(86_400)).unwrap();
    let validity = Validity::starting_now(std::time::Duration::from_secs(3_600));
    let cloud_seed = dir.path().join("cloud-seed");
    ca.issue_with_new_key(Role::Cloud, "swarm-1", validity, &cloud_seed.join("identity")).unwrap();
    let mut cloud_keyed = spec(Variant::Cloud, &dir.path().join("cloud-out"));
    cloud_keyed.data_seed = Some(cloud_seed);
    build(&cloud_keyed);
    let vault_seed = dir.path().join("vault-seed");
    ca.issue_with_new_key(Role::Local, "node-7", validity, &vault_seed.join("identity")).unwrap();
    let mut vault_keyed = spec(Variant::Cloud, &dir.path().join("vault-out"));
    vault_keyed.data_seed = Some(vault_seed);
    let err = qp_image::build(&vault_keyed, &ProgressBar::hidden()).unwrap_err().to_string();
    assert!(err.contains("node-7.key") && err.contains("cloud image"), "{err}");

    // The update root must be JSON; releases start at 1.
    let not_json = dir.path().join("1.root.json");
    write(&not_json, "signed: root\n");
    let mut bad_root = spec(Variant::Local, &dir.path().join("bad-root-out"));
    bad_root.update_root = Some(not_json);
    let err = qp_image::build(&bad_root, &ProgressBar::hidden()).unwrap_err().to_string();
    assert!(err.contains("1.root.json") && err.contains("not valid JSON"), "{err}");
    assert!(!dir.path().join("bad-root-out").exists(), "refused before anything is written");
    let mut zero = spec(Variant::Local, &dir.path().join("out"));
    zero.release = 0;
    let err = qp_image::build(&zero, &ProgressBar::hidden()).unwrap_err().to_string();
    assert!(err.contains("release numbers start at 1"), "{err}");

    let mut dynamic = spec(Variant::Local, &dir.path().join("out"));
    dynamic.node_binary = NodeBinary::Prebuilt(std::env::current_exe().unwrap());
    let err = qp_image::build(&dynamic, &ProgressBar::hidden()).unwrap_err().to_string();
    assert!(err.contains("dynamically linked"), "{err}");
}
