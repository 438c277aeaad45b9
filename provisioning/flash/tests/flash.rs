#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! qp-flash end to end on files, and its refusals against fake sysfs trees and mount tables.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use qp_flash::{
    BlockDeviceInfo, DeviceNumber, ExistingContents, FlashArgs, FlashError, FlashPlan, GptProbe, Host, MountTable,
    Sysfs, TargetKind,
};

const SECTOR: usize = 512;
const MIB: usize = 1 << 20;

/// SplitMix64: deterministic bytes for images and the fuzz-style test.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn fill(&mut self, bytes: &mut [u8]) {
        for chunk in bytes.chunks_mut(8) {
            let word = self.next().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

/// A small GPT disk image written by hand: protective MBR, primary header at LBA 1, 128 entries
/// of 128 bytes from LBA 2, `names` as equal partitions, and seeded bytes in the partitions.
fn fake_gpt_disk(total_bytes: usize, names: &[&str], seed: u64) -> Vec<u8> {
    let sectors = (total_bytes / SECTOR) as u64;
    let mut disk = vec![0u8; total_bytes];
    let mut random = SplitMix(seed);
    random.fill(&mut disk[34 * SECTOR..]);

    // Protective MBR: one record of type 0xEE over the whole disk.
    disk[446 + 4] = 0xEE;
    disk[446 + 8..446 + 12].copy_from_slice(&1u32.to_le_bytes());
    disk[446 + 12..446 + 16].copy_from_slice(&((sectors - 1) as u32).to_le_bytes());
    disk[510] = 0x55;
    disk[511] = 0xAA;

    let mut entries = vec![0u8; 128 * 128];
    let first_usable = 34u64;
    let last_usable = sectors - 34;
    let span = (last_usable - first_usable + 1) / names.len().max(1) as u64;
    for (index, name) in names.iter().enumerate() {
        let entry = &mut entries[index * 128..(index + 1) * 128];
        entry[..16].copy_from_slice(&[
            0xAF, 0x3D, 0xC6, 0x0F, 0x83, 0x84, 0x72, 0x47, 0x8E, 0x79, 0x3D, 0x69, 0xD8, 0x47, 0x7D, 0xE4,
        ]);
        entry[16] = index as u8 + 1;
        let first = first_usable + index as u64 * span;
        entry[32..40].copy_from_slice(&first.to_le_bytes());
        entry[40..48].copy_from_slice(&(first + span - 1).to_le_bytes());
        for (i, unit) in name.encode_utf16().enumerate() {
            entry[56 + 2 * i..58 + 2 * i].copy_from_slice(&unit.to_le_bytes());
        }
    }
    disk[2 * SECTOR..2 * SECTOR + entries.len()].copy_from_slice(&entries);

    let header = &mut disk[SECTOR..2 * SECTOR];
    header[..8].copy_from_slice(b"EFI PART");
    header[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
    header[12..16].copy_from_slice(&92u32.to_le_bytes());
    header[24..32].copy_from_slice(&1u64.to_le_bytes());
    header[32..40].copy_from_slice(&(sectors - 1).to_le_bytes());
    header[40..48].copy_from_slice(&first_usable.to_le_bytes());
    header[48..56].copy_from_slice(&last_usable.to_le_bytes());
    header[56..72].copy_from_slice(&[0x42; 16]);
    header[72..80].copy_from_slice(&2u64.to_le_bytes());
    header[80..84].copy_from_slice(&128u32.to_le_bytes());
    header[84..88].copy_from_slice(&128u32.to_le_bytes());
    header[88..92].copy_from_slice(&crc32fast::hash(&entries).to_le_bytes());
    let crc = crc32fast::hash(&header[..92]);
    header[16..20].copy_from_slice(&crc.to_le_bytes());
    disk
}

fn write_image(dir: &Path, names: &[&str]) -> (PathBuf, Vec<u8>) {
    let bytes = fake_gpt_disk(3 * MIB + 512 * 7, names, 7);
    let path = dir.join("disk.img");
    fs::write(&path, &bytes).unwrap();
    (path, bytes)
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

fn files_only_host() -> Host {
    Host { sysfs: Sysfs::at("/nonexistent-sysfs"), mounts: MountTable::default() }
}

fn plan(image: &Path, target: &Path) -> Result<FlashPlan, FlashError> {
    FlashPlan::inspect_with(image, target, &files_only_host())
}

#[test]
fn flash_to_a_new_file_copies_every_byte_and_reports_its_hash() {
    let dir = tempfile::tempdir().unwrap();
    let (image, bytes) = write_image(dir.path(), &["esp", "root-a"]);
    let target = dir.path().join("out.raw");

    let plan = plan(&image, &target).unwrap();
    assert_eq!(plan.target_kind(), &TargetKind::NewFile);
    assert_eq!(plan.existing_contents(), &ExistingContents::NewFile);
    assert!(plan.describe().contains("a new file"), "{}", plan.describe());
    assert_eq!(plan.image_partitions().iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["esp", "root-a"]);

    let mut calls = Vec::new();
    let report = plan.execute(&mut |written, total| calls.push((written, total))).unwrap();
    assert_eq!(fs::read(&target).unwrap(), bytes);
    assert_eq!(report.bytes, bytes.len() as u64);
    assert_eq!(report.sha256, sha256(&bytes));
    assert!(report.write_mib_per_s > 0.0 && report.write_seconds > 0.0 && report.verify_seconds > 0.0);
    let total = bytes.len() as u64;
    assert_eq!(calls.first(), Some(&(0, total)));
    assert_eq!(calls.last(), Some(&(total, total)));
    assert_eq!(calls.len(), 1 + bytes.len().div_ceil(MIB), "one call per 1 MiB block");
    assert!(report.to_string().contains(&qp_flash::hex(&report.sha256)));
    assert!(!report.stale_backup_gpt_erased, "only disks larger than the image have one to erase");
}

#[test]
fn flash_over_a_file_with_a_gpt_names_its_partitions_then_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let (image, bytes) = write_image(dir.path(), &["esp", "root-a", "root-b", "data"]);
    let target = dir.path().join("old.raw");
    // Longer than the image: after the flash it must be exactly the image.
    fs::write(&target, fake_gpt_disk(5 * MIB, &["old-boot", "Données ✓"], 99)).unwrap();

    let plan = plan(&image, &target).unwrap();
    assert_eq!(plan.target_kind(), &TargetKind::RegularFile { bytes: 5 * MIB as u64 });
    let described = plan.describe();
    assert!(described.contains("\"old-boot\"") && described.contains("\"Données ✓\""), "{described}");
    assert!(described.contains("2 partition(s)"), "{described}");
    assert!(described.contains(&target.display().to_string()), "{described}");
    match plan.existing_contents() {
        ExistingContents::Gpt(partitions) => {
            assert_eq!(partitions.len(), 2);
            assert!(partitions.iter().all(|p| p.size_bytes.is_some_and(|size| size > 0)));
        }
        other => panic!("expected a GPT, got {other:?}"),
    }

    plan.execute(&mut |_, _| {}).unwrap();
    assert_eq!(fs::read(&target).unwrap(), bytes);
}

#[test]
fn describe_says_empty_zeros_or_unknown_data() {
    let dir = tempfile::tempdir().unwrap();
    let (image, _) = write_image(dir.path(), &["esp"]);
    let cases: [(&str, Vec<u8>, ExistingContents, &str); 3] = [
        ("empty", Vec::new(), ExistingContents::Empty, "an empty file"),
        ("zeros", vec![0; 2 * MIB], ExistingContents::Zeros { checked_bytes: MIB as u64 }, "empty (zeros"),
        ("text", b"hello, not a disk".repeat(100), ExistingContents::UnknownData, "unknown data"),
    ];
    for (name, contents, expected, phrase) in cases {
        let target = dir.path().join(name);
        fs::write(&target, contents).unwrap();
        let plan = plan(&image, &target).unwrap();
        assert_eq!(plan.existing_contents(), &expected, "{name}");
        assert!(plan.describe().contains(phrase), "{name}: {}", plan.describe());
    }
}

#[test]
fn a_target_smaller_than_the_image_is_refused() {
    let target = Path::new("/dev/fake");
    let error = qp_flash::check_target_size(target, 1000, 1001).unwrap_err();
    assert!(matches!(error, FlashError::TargetTooSmall { target_bytes: 1000, image_bytes: 1001, .. }));
    assert!(error.to_string().contains("/dev/fake"), "{error}");
    qp_flash::check_target_size(target, 1001, 1001).unwrap();

    // The same rule through the block-device check, from a fake sysfs entry of 8 MiB.
    let fake = FakeSysfs::new();
    let info = fake.sysfs().block_device(target, SDA).unwrap();
    assert_eq!(info.size_bytes, 8 * MIB as u64);
    let error = qp_flash::check_block_device(target, &info, &MountTable::default(), 8 * MIB as u64 + 1).unwrap_err();
    assert!(matches!(error, FlashError::TargetTooSmall { .. }), "{error}");
}

const SDA: DeviceNumber = DeviceNumber { major: 8, minor: 0 };

/// A sysfs tree shaped like the kernel's: `dev/block/8:0` links to `devices/.../block/sda`, which
/// holds partitions `sda1` and `sda2`; `devices/virtual/block/dm-0` may be stacked on `sda2`.
struct FakeSysfs {
    root: tempfile::TempDir,
}

impl FakeSysfs {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let disk = root.path().join("devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda");
        let write = |path: PathBuf, text: &str| {
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        };
        write(disk.join("dev"), "8:0\n");
        write(disk.join("size"), "16384\n");
        write(disk.join("ro"), "0\n");
        write(disk.join("removable"), "1\n");
        write(disk.join("queue/logical_block_size"), "512\n");
        write(disk.join("device/model"), "Fake SSD 9000  \n");
        write(disk.join("device/vendor"), "ATA     \n");
        fs::create_dir_all(disk.join("holders")).unwrap();
        for (number, name) in [(1, "sda1"), (2, "sda2")] {
            let part = disk.join(name);
            write(part.join("dev"), &format!("8:{number}\n"));
            write(part.join("partition"), &format!("{number}\n"));
            write(part.join("size"), "4096\n");
            fs::create_dir_all(part.join("holders")).unwrap();
        }
        fs::create_dir_all(root.path().join("dev/block")).unwrap();
        let relative = disk.strip_prefix(root.path()).unwrap();
        symlink(Path::new("../..").join(relative), root.path().join("dev/block/8:0")).unwrap();
        symlink(Path::new("../..").join(relative).join("sda2"), root.path().join("dev/block/8:2")).unwrap();
        Self { root }
    }

    fn sysfs(&self) -> Sysfs {
        Sysfs::at(self.root.path())
    }

    fn disk_dir(&self) -> PathBuf {
        fs::canonicalize(self.root.path().join("dev/block/8:0")).unwrap()
    }

    /// Stacks `dm-0` (253:0) on `sda2`, as an open LUKS mapping would.
    fn stack_dm_on_sda2(&self) {
        let dm = self.root.path().join("devices/virtual/block/dm-0");
        fs::create_dir_all(dm.join("holders")).unwrap();
        fs::write(dm.join("dev"), "253:0\n").unwrap();
        symlink(&dm, self.disk_dir().join("sda2/holders/dm-0")).unwrap();
    }

    fn set(&self, relative: &str, text: &str) {
        fs::write(self.disk_dir().join(relative), text).unwrap();
    }
}

fn mountinfo(lines: &[&str]) -> MountTable {
    let base = "22 27 0:21 / /proc rw,relatime shared:12 - proc proc rw\n\
                25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24684092k\n";
    MountTable::from_mountinfo(&format!("{base}{}", lines.join("\n"))).unwrap()
}

fn check(fake: &FakeSysfs, mounts: &MountTable) -> Result<BlockDeviceInfo, FlashError> {
    let target = Path::new("/dev/sda");
    let info = fake.sysfs().block_device(target, SDA)?;
    qp_flash::check_block_device(target, &info, mounts, 4 * MIB as u64)?;
    Ok(info)
}

#[test]
fn an_unmounted_disk_passes_and_sysfs_says_what_it_is() {
    let fake = FakeSysfs::new();
    let info = check(&fake, &mountinfo(&[])).unwrap();
    assert_eq!(info.name, "sda");
    assert_eq!(info.model.as_deref(), Some("Fake SSD 9000"));
    assert_eq!(info.vendor.as_deref(), Some("ATA"));
    assert!(info.removable && !info.read_only && !info.is_partition);
    let partitions: Vec<_> = info.partitions.iter().map(|p| (p.name.as_str(), p.device.to_string())).collect();
    assert_eq!(partitions, [("sda1", "8:1".to_owned()), ("sda2", "8:2".to_owned())]);
    let summary = info.summary();
    assert!(summary.contains("sda") && summary.contains("Fake SSD 9000") && summary.contains("8.0 MiB"), "{summary}");
}

#[test]
fn a_mounted_disk_partition_or_stacked_device_is_refused() {
    let fake = FakeSysfs::new();
    let mounted = |line: &str, device: &str, mount_point: &str| {
        let error = check(&fake, &mountinfo(&[line])).unwrap_err();
        match &error {
            FlashError::TargetMounted { device: d, mount_point: m, .. } => {
                assert!(d.starts_with(device), "{error}");
                assert_eq!(m, mount_point);
            }
            other => panic!("expected TargetMounted, got {other}"),
        }
        assert!(error.to_string().contains("/dev/sda"), "{error}");
    };
    mounted("40 27 8:0 / /mnt/whole rw - ext4 /dev/sda rw", "sda", "/mnt/whole");
    // Optional fields before the separator, and an escaped space in the mount point.
    mounted("41 27 8:2 / /mnt/my\\040data rw,relatime shared:1 master:2 - ext4 /dev/sda2 rw", "sda2", "/mnt/my data");

    fake.stack_dm_on_sda2();
    mounted("42 27 253:0 / /secret rw - ext4 /dev/mapper/secret rw", "dm-0", "/secret");
    // Stacked but not mounted is still in use.
    let error = check(&fake, &mountinfo(&[])).unwrap_err();
    assert!(
        matches!(&error, FlashError::TargetHeld { device, holder, .. } if device == "sda2" && holder == "dm-0"),
        "{error}"
    );
}

#[test]
fn a_partition_a_read_only_disk_or_4k_sectors_are_refused() {
    let fake = FakeSysfs::new();
    let partition = fake.sysfs().block_device(Path::new("/dev/sda2"), DeviceNumber { major: 8, minor: 2 }).unwrap();
    let error =
        qp_flash::check_block_device(Path::new("/dev/sda2"), &partition, &MountTable::default(), 1).unwrap_err();
    assert!(matches!(&error, FlashError::TargetIsPartition { device, .. } if device == "sda2"), "{error}");

    fake.set("queue/logical_block_size", "4096\n");
    let error = check(&fake, &mountinfo(&[])).unwrap_err();
    assert!(matches!(error, FlashError::SectorSizeMismatch { target_sector_bytes: 4096, .. }), "{error}");

    fake.set("ro", "1\n");
    let error = check(&fake, &mountinfo(&[])).unwrap_err();
    assert!(matches!(error, FlashError::TargetReadOnly { .. }), "{error}");
}

#[test]
fn a_missing_sysfs_entry_is_an_error_not_a_pass() {
    let fake = FakeSysfs::new();
    let error = fake.sysfs().block_device(Path::new("/dev/sdq"), DeviceNumber { major: 65, minor: 0 }).unwrap_err();
    assert!(matches!(error, FlashError::SysfsUnreadable { .. }), "{error}");
}

#[test]
fn mount_table_reads_device_numbers_sources_and_mount_points() {
    let table = MountTable::from_mountinfo(
        "29 1 259:2 / / rw,relatime shared:1 - btrfs /dev/nvme0n1p2 rw,ssd\n\
         \n\
         30 29 0:45 /home /home rw - btrfs /dev/nvme0n1p2 rw\n",
    )
    .unwrap();
    let entries = table.entries();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].device, DeviceNumber { major: 259, minor: 2 });
    assert_eq!((entries[0].source.as_str(), entries[0].mount_point.as_str()), ("/dev/nvme0n1p2", "/"));
    assert_eq!(table.mount_of(DeviceNumber { major: 0, minor: 45 }).map(|m| m.mount_point.as_str()), Some("/home"));
    assert!(table.mount_of(DeviceNumber { major: 8, minor: 0 }).is_none());
    assert!(MountTable::from_mountinfo("1 2 nonsense / / rw - ext4 /dev/x rw").is_err());
    // The host's own table parses (this runs on Linux).
    MountTable::current().unwrap();
}

#[test]
fn an_image_that_is_not_a_gpt_disk_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.raw");
    let good = fake_gpt_disk(MIB, &["esp"], 1);
    let mut no_mbr = good.clone();
    no_mbr[510] = 0;
    let mut no_header = good.clone();
    no_header[SECTOR..SECTOR + 8].copy_from_slice(b"NOT PART");
    let mut bad_crc = good.clone();
    bad_crc[SECTOR + 80] ^= 1; // entry count changed, checksum not updated
    let cases = [
        ("zeros", vec![0u8; MIB], "protective MBR"),
        ("short", vec![0x55; 100], "protective MBR"),
        ("no-mbr", no_mbr, "protective MBR"),
        ("no-header", no_header, "EFI PART"),
        ("bad-crc", bad_crc, "checksum"),
    ];
    for (name, bytes, reason) in cases {
        let image = dir.path().join(name);
        fs::write(&image, bytes).unwrap();
        let error = plan(&image, &target).unwrap_err();
        assert!(matches!(error, FlashError::NotGptImage { .. }), "{name}: {error}");
        let message = error.to_string();
        assert!(message.contains(reason) && message.contains(name) && !message.contains('\n'), "{name}: {message}");
    }
    assert!(!target.exists());

    let error = plan(dir.path(), &target).unwrap_err();
    assert!(matches!(error, FlashError::ImageNotRegularFile { .. }), "{error}");
    let error = plan(&dir.path().join("missing.img"), &target).unwrap_err();
    assert!(matches!(error, FlashError::ImageUnreadable { .. }), "{error}");
}

#[test]
fn the_image_itself_is_refused_as_target_even_through_a_hard_link() {
    let dir = tempfile::tempdir().unwrap();
    let (image, bytes) = write_image(dir.path(), &["esp"]);
    let link = dir.path().join("same.img");
    fs::hard_link(&image, &link).unwrap();
    for target in [&image, &link] {
        let error = plan(&image, target).unwrap_err();
        assert!(matches!(error, FlashError::TargetIsImage { .. }), "{error}");
    }
    assert_eq!(fs::read(&image).unwrap(), bytes);
}

#[test]
fn character_devices_directories_and_missing_devices_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (image, _) = write_image(dir.path(), &["esp"]);
    let error = plan(&image, Path::new("/dev/null")).unwrap_err();
    assert!(matches!(error, FlashError::UnsupportedTargetKind { kind: "character device", .. }), "{error}");
    let error = plan(&image, dir.path()).unwrap_err();
    assert!(matches!(error, FlashError::UnsupportedTargetKind { kind: "directory", .. }), "{error}");
    let error = plan(&image, Path::new("/dev/qp-flash-no-such-disk")).unwrap_err();
    assert!(matches!(error, FlashError::NoSuchDevice { .. }), "{error}");
    assert!(!Path::new("/dev/qp-flash-no-such-disk").exists());
    let error = plan(&image, &dir.path().join("no/such/folder/out.raw")).unwrap_err();
    assert!(matches!(error, FlashError::TargetFolderMissing { .. }), "{error}");
}

#[test]
fn a_refused_confirmation_writes_nothing_and_yes_skips_the_question() {
    let dir = tempfile::tempdir().unwrap();
    let (image, bytes) = write_image(dir.path(), &["esp", "root-a"]);
    let existing = dir.path().join("existing.raw");
    fs::write(&existing, b"precious data").unwrap();

    for target in [dir.path().join("new.raw"), existing.clone()] {
        let args = FlashArgs { image: image.clone(), target: target.clone(), yes: false };
        let mut asked = Vec::new();
        let mut printed = Vec::new();
        let error = qp_flash::run_with_output(
            args,
            &mut |question| {
                asked.push(question.to_owned());
                false
            },
            &mut printed,
        )
        .unwrap_err();
        assert!(matches!(error, FlashError::NotConfirmed { .. }), "{error}");
        assert_eq!(asked.len(), 1);
        assert!(asked[0].contains(&target.display().to_string()), "{}", asked[0]);
        let printed = String::from_utf8(printed).unwrap();
        assert!(printed.contains("target: ") && printed.contains(&target.display().to_string()), "{printed}");
    }
    assert!(!dir.path().join("new.raw").exists());
    assert_eq!(fs::read(&existing).unwrap(), b"precious data");

    let args = FlashArgs { image, target: existing.clone(), yes: true };
    let mut printed = Vec::new();
    let report = qp_flash::run_with_output(args, &mut |_| panic!("--yes must not ask"), &mut printed).unwrap();
    assert_eq!(fs::read(&existing).unwrap(), bytes);
    let printed = String::from_utf8(printed).unwrap();
    assert!(printed.contains("unknown data") && printed.contains(&qp_flash::hex(&report.sha256)), "{printed}");
}

#[test]
fn a_read_back_that_differs_from_what_was_written_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let (image, bytes) = write_image(dir.path(), &["esp"]);
    let target = dir.path().join("out.raw");
    let report = plan(&image, &target).unwrap().execute(&mut |_, _| {}).unwrap();
    qp_flash::verify(&target, report.bytes, &report.sha256).unwrap();

    let mut corrupted = bytes.clone();
    corrupted[2 * MIB + 5] ^= 0x01;
    fs::write(&target, &corrupted).unwrap();
    let error = qp_flash::verify(&target, report.bytes, &report.sha256).unwrap_err();
    match &error {
        FlashError::VerifyMismatch { expected, found, .. } => {
            assert_eq!(expected, &qp_flash::hex(&sha256(&bytes)));
            assert_eq!(found, &qp_flash::hex(&sha256(&corrupted)));
        }
        other => panic!("expected VerifyMismatch, got {other}"),
    }
    assert!(error.to_string().contains(&target.display().to_string()));

    fs::write(&target, &bytes[..MIB + 3]).unwrap();
    let error = qp_flash::verify(&target, report.bytes, &report.sha256).unwrap_err();
    assert!(matches!(error, FlashError::ReadBackFailed { read, .. } if read == MIB as u64), "{error}");
}

#[test]
fn interrupted_write_errors_say_how_far_they_got() {
    let error = FlashError::WriteInterrupted {
        target: "/dev/sdb".into(),
        written: 3 << 20,
        total: 64 << 20,
        source: std::io::Error::other("No space left on device"),
    };
    let message = error.to_string();
    assert!(message.contains("/dev/sdb") && message.contains("3145728 of 67108864 bytes"), "{message}");
}

#[test]
fn random_bytes_never_panic_the_gpt_reader() {
    let mut random = SplitMix(0x5EED);
    let good = fake_gpt_disk(64 * 1024, &["a", "b"], 3);
    for round in 0..3000 {
        let length = (random.next() % 40_000) as usize;
        let mut disk = vec![0u8; length];
        random.fill(&mut disk);
        match round % 3 {
            // Pure noise.
            0 => {}
            // A real header and entries with noise sprinkled over them, checksum recomputed so the
            // reader goes past the checksum into the field checks and the entries.
            1 => {
                disk = good.clone();
                for _ in 0..(random.next() % 8) {
                    let at = SECTOR + (random.next() % 2048) as usize;
                    disk[at] = random.next() as u8;
                }
                disk[SECTOR + 16..SECTOR + 20].fill(0);
                let header_size = u32::from_le_bytes(disk[SECTOR + 12..SECTOR + 16].try_into().unwrap()) as usize;
                if (92..=512).contains(&header_size) {
                    let crc = crc32fast::hash(&disk[SECTOR..SECTOR + header_size]);
                    disk[SECTOR + 16..SECTOR + 20].copy_from_slice(&crc.to_le_bytes());
                }
            }
            // The signature on noise.
            _ => {
                if disk.len() >= 2 * SECTOR {
                    disk[SECTOR..SECTOR + 8].copy_from_slice(b"EFI PART");
                }
            }
        }
        let claimed_length = if round % 5 == 0 { random.next() } else { disk.len() as u64 };
        let sector = [512, 4096, random.next() % 70_000][round % 3];
        let mut cursor = std::io::Cursor::new(&disk);
        let _ = qp_flash::probe_gpt(&mut cursor, disk.len() as u64, sector);
        let _ = qp_flash::identify_contents(&mut cursor, disk.len() as u64, sector);
        // A length larger than the data is an I/O error at worst, never a panic.
        let _ = qp_flash::identify_contents(&mut cursor, claimed_length, sector);
    }
    let mut cursor = std::io::Cursor::new(&good);
    assert!(matches!(qp_flash::probe_gpt(&mut cursor, good.len() as u64, 512), Ok(GptProbe::Valid(p)) if p.len() == 2));
}

#[test]
fn raw_write_speed_is_measured_and_its_scratch_file_removed() {
    let dir = tempfile::tempdir().unwrap();
    let speed = qp_flash::measure_raw_write(dir.path(), 4 * MIB as u64).unwrap();
    assert!(speed > 0.0 && speed.is_finite(), "{speed}");
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    let error = qp_flash::measure_raw_write(&dir.path().join("missing"), 1).unwrap_err();
    assert!(matches!(error, FlashError::RawWriteFailed { .. }), "{error}");
}

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    flash: FlashArgs,
}

#[test]
fn flash_arguments_parse() {
    let cli = Cli::try_parse_from(["qpctl", "--image", "disk.img", "--target", "/dev/sdb", "--yes"]).unwrap();
    assert_eq!((cli.flash.image, cli.flash.target, cli.flash.yes), ("disk.img".into(), "/dev/sdb".into(), true));
    let cli = Cli::try_parse_from(["qpctl", "--image", "a", "--target", "b"]).unwrap();
    assert!(!cli.flash.yes);
    assert!(Cli::try_parse_from(["qpctl", "--image", "a"]).is_err());
}

/// A loop device over a file, detached on drop. Needs root and a kernel that gives one.
struct LoopDevice(PathBuf);

impl LoopDevice {
    fn attach(backing: &Path) -> Option<Self> {
        let output = Command::new("losetup").args(["--find", "--show"]).arg(backing).output().ok()?;
        output.status.success().then(|| Self(PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())))
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("--detach").arg(&self.0).status();
    }
}

/// The block-device path on a real (loop) block device, where the host allows one; skipped
/// with a note elsewhere, since CI containers often have no loop devices.
#[test]
fn a_loop_device_is_flashed_and_one_too_small_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (image, bytes) = write_image(dir.path(), &["esp", "root-a"]);
    let backing = dir.path().join("backing.raw");
    let mut previous = fake_gpt_disk(8 * MIB, &["previous"], 5);
    // The previous table's backup header in the last sector, as every GPT disk has one.
    let primary_header = previous[SECTOR..2 * SECTOR].to_vec();
    previous[8 * MIB - SECTOR..].copy_from_slice(&primary_header);
    fs::write(&backing, &previous).unwrap();
    let Some(device) = LoopDevice::attach(&backing) else {
        eprintln!("skipped: no loop device available (needs root and losetup)");
        return;
    };

    let plan = FlashPlan::inspect(&image, &device.0).unwrap();
    match plan.target_kind() {
        TargetKind::BlockDevice(info) => {
            assert!(info.name.starts_with("loop"), "{info:?}");
            assert_eq!(info.size_bytes, 8 * MIB as u64);
        }
        other => panic!("expected a block device, got {other:?}"),
    }
    let described = plan.describe();
    assert!(described.contains("\"previous\"") && described.contains("block device loop"), "{described}");
    let report = plan.execute(&mut |_, _| {}).unwrap();
    assert_eq!(report.sha256, sha256(&bytes));
    assert!(report.read_back_uncached, "fadvise(DONTNEED) on a block device is accepted");
    assert!(report.stale_backup_gpt_erased);
    drop(device);
    let on_disk = fs::read(&backing).unwrap();
    assert_eq!(&on_disk[..bytes.len()], bytes.as_slice());
    assert_eq!(on_disk.len(), 8 * MIB, "a block device is never truncated");
    assert!(on_disk[8 * MIB - SECTOR..].iter().all(|&b| b == 0), "old backup header erased");
    assert_eq!(&on_disk[bytes.len()..8 * MIB - SECTOR], &previous[bytes.len()..8 * MIB - SECTOR], "nothing else");

    let small = dir.path().join("small.raw");
    fs::write(&small, vec![0u8; 2 * MIB]).unwrap();
    let Some(small_device) = LoopDevice::attach(&small) else { return };
    let error = FlashPlan::inspect(&image, &small_device.0).unwrap_err();
    assert!(matches!(error, FlashError::TargetTooSmall { .. }), "{error}");
    assert!(error.to_string().contains(&small_device.0.display().to_string()), "{error}");
}
