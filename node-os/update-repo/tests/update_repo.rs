#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! The signed update repository end to end: keys, init, publish and refresh on the operator's
//! side; fetch over `file://` and loopback HTTP on the node's; and each refusal issue 11 names,
//! each leaving the destination as it was and naming the role, file or target.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use std::{fs, thread};

use qp_update_repo::{
    FetchConfig, KeyPolicy, Lifetimes, Role, RolePolicy, SigningKeys, UpdateError, check_for_update, fetch_update,
    generate_keys, init, publish, refresh_timestamp, rotate_root,
};
use tempfile::TempDir;

const DAY: Duration = Duration::from_secs(24 * 60 * 60);
const SENTINEL: &str = "running-slot.txt";

/// Root 1 of 1, targets 2 of 2 (two people sign a release), snapshot and timestamp 1 of 1.
fn test_policy() -> KeyPolicy {
    KeyPolicy {
        root: RolePolicy { keys: 1, threshold: 1 },
        targets: RolePolicy { keys: 2, threshold: 2 },
        snapshot: RolePolicy { keys: 1, threshold: 1 },
        timestamp: RolePolicy { keys: 1, threshold: 1 },
    }
}

struct Fixture {
    dir: TempDir,
    keys: SigningKeys,
    repo: PathBuf,
    trusted_root: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let keys = generate_keys(&dir.path().join("keys"), &test_policy()).unwrap();
        let repo = dir.path().join("repo");
        let trusted_root = init(&repo, &keys, &test_policy(), &Lifetimes::default(), SystemTime::now()).unwrap();
        Self { dir, keys, repo, trusted_root }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The image's artefacts for `version`: contents differ per version; the root file system is
    /// large enough to arrive in several chunks.
    fn image(&self, version: u64) -> Vec<(String, PathBuf)> {
        let dir = self.path(&format!("image-v{version}"));
        fs::create_dir_all(&dir).unwrap();
        let root_fs: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(31) as u8) ^ version as u8).collect();
        let files: [(&str, Vec<u8>); 4] = [
            ("uki.efi", format!("MZ unified kernel image v{version}").repeat(500).into_bytes()),
            ("root.erofs", root_fs),
            ("root.verity", format!("verity hash tree v{version}").repeat(100).into_bytes()),
            ("golden.json", format!("{{\"image_version\":{version},\"pcr\":{{}}}}").into_bytes()),
        ];
        files
            .into_iter()
            .map(|(name, bytes)| {
                let path = dir.join(name);
                fs::write(&path, bytes).unwrap();
                (name.to_owned(), path)
            })
            .collect()
    }

    fn publish(&self, version: u64) -> Vec<(String, PathBuf)> {
        self.publish_to(&self.repo, &self.keys, version)
    }

    fn publish_to(&self, repo: &Path, keys: &SigningKeys, version: u64) -> Vec<(String, PathBuf)> {
        let image = self.image(version);
        let targets: Vec<(&str, &Path)> = image.iter().map(|(n, p)| (n.as_str(), p.as_path())).collect();
        publish(repo, keys, &targets, version, &Lifetimes::default(), SystemTime::now()).unwrap();
        image
    }

    fn config(&self, repository: String, installed_version: u64) -> FetchConfig {
        FetchConfig {
            trusted_root: self.trusted_root.clone(),
            datastore: self.path("datastore"),
            repository,
            installed_version,
        }
    }

    fn file_config(&self, installed_version: u64) -> FetchConfig {
        self.config(format!("file://{}", self.repo.display()), installed_version)
    }

    /// The node's destination, holding a file from the running slot.
    fn destination(&self) -> PathBuf {
        let dest = self.path("dest");
        fs::create_dir_all(&dest).unwrap();
        fs::write(dest.join(SENTINEL), b"slot A").unwrap();
        dest
    }

    /// A published target's file in the repository (`targets/SHA256.NAME`).
    fn repo_target(&self, name: &str) -> PathBuf {
        fs::read_dir(self.repo.join("targets"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_name().unwrap().to_str().unwrap().ends_with(&format!(".{name}")))
            .unwrap()
    }
}

fn listing(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().into_string().unwrap(), fs::read(e.path()).unwrap())
        })
        .collect()
}

/// Nothing was written, renamed or left behind: only the running slot's file, unchanged.
fn assert_untouched(dest: &Path) {
    let files = listing(dest);
    assert_eq!(files.keys().collect::<Vec<_>>(), vec![SENTINEL], "destination changed");
    assert_eq!(files[SENTINEL], b"slot A");
}

/// Fetches, expecting a refusal; checks the destination and that the message names `word`.
fn refused(config: &FetchConfig, dest: &Path, word: &str) -> UpdateError {
    let error = fetch_update(config, dest).expect_err("the update must be refused");
    let message = error.to_string();
    eprintln!("refused: {message}");
    assert!(message.contains(word), "message {message:?} does not name {word:?}");
    assert_untouched(dest);
    error
}

fn assert_fetched(image: &[(String, PathBuf)], update: &qp_update_repo::VerifiedUpdate, dest: &Path) {
    assert_eq!(update.targets.len(), image.len());
    for (name, source) in image {
        let target = update.targets.iter().find(|t| &t.name == name).unwrap();
        let expected = fs::read(source).unwrap();
        assert_eq!(target.path, dest.join(name));
        assert_eq!(fs::read(&target.path).unwrap(), expected, "{name}");
        assert_eq!(target.length, expected.len() as u64);
        assert_eq!(target.sha256.as_slice(), aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &expected).as_ref());
    }
    // No temporary file is left beside the targets.
    assert_eq!(listing(dest).len(), image.len() + 1);
}

/// A loopback HTTP/1.1 server for the repository folder. If `cut` names a target, its body is
/// cut off at half the announced Content-Length and the connection closed.
fn serve(root: PathBuf, cut: Option<&'static str>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            answer(stream, &root, cut);
        }
    });
    format!("http://{address}/")
}

fn answer(mut stream: TcpStream, root: &Path, cut: Option<&str>) {
    let mut request = Vec::new();
    let mut byte = [0u8; 1];
    while !request.ends_with(b"\r\n\r\n") && request.len() < 8192 {
        if stream.read(&mut byte).unwrap_or(0) == 0 {
            return;
        }
        request.push(byte[0]);
    }
    let request = String::from_utf8_lossy(&request);
    let path = request.split(' ').nth(1).unwrap_or("/").trim_start_matches('/').to_owned();
    let file = root.join(&path);
    let body = if path.contains("..") { None } else { fs::read(&file).ok() };
    let _ = match body {
        None => stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
        Some(body) => {
            let sent = match cut {
                Some(name) if path.ends_with(&format!(".{name}")) => &body[..body.len() / 2],
                _ => &body[..],
            };
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(sent))
        }
    };
}

#[test]
fn publishes_and_fetches_v1_then_v2_from_a_directory() {
    let f = Fixture::new();
    for (_, path) in f.keys.files() {
        assert_eq!(fs::metadata(path).unwrap().permissions().mode() & 0o777, 0o600, "{}", path.display());
    }
    let dest = f.destination();

    let image_v1 = f.publish(1);
    let offer = check_for_update(&f.file_config(0)).unwrap();
    assert_eq!(offer.version(), 1);
    let names: Vec<&str> = offer.targets().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["golden.json", "root.erofs", "root.verity", "uki.efi"]);
    let update = offer.download(&dest).unwrap();
    assert_eq!(update.version, 1);
    assert_fetched(&image_v1, &update, &dest);

    let image_v2 = f.publish(2);
    let update = fetch_update(&f.file_config(1), &dest).unwrap();
    assert_eq!(update.version, 2);
    assert_fetched(&image_v2, &update, &dest);
}

#[test]
fn fetches_v1_then_v2_over_http_on_loopback() {
    let f = Fixture::new();
    let url = serve(f.repo.clone(), None);
    let dest = f.destination();

    let image_v1 = f.publish(1);
    let update = fetch_update(&f.config(url.clone(), 0), &dest).unwrap();
    assert_eq!(update.version, 1);
    assert_fetched(&image_v1, &update, &dest);

    let image_v2 = f.publish(2);
    let update = fetch_update(&f.config(url, 1), &dest).unwrap();
    assert_eq!(update.version, 2);
    assert_fetched(&image_v2, &update, &dest);
}

#[test]
fn streams_one_target_into_a_writer() {
    let f = Fixture::new();
    let image = f.publish(1);
    let offer = check_for_update(&f.file_config(0)).unwrap();
    let mut bytes = Vec::new();
    let target = offer.write_target("root.erofs", &mut bytes).unwrap();
    assert_eq!(bytes, fs::read(&image[1].1).unwrap());
    assert_eq!(target.length, bytes.len() as u64);
    let error = offer.write_target("kernel.bin", &mut Vec::new()).unwrap_err();
    assert!(matches!(&error, UpdateError::TargetName { target, .. } if target == "kernel.bin"), "{error}");
}

#[test]
fn refreshed_timestamp_is_accepted() {
    let f = Fixture::new();
    f.publish(1);
    assert_eq!(refresh_timestamp(&f.repo, &f.keys, DAY, SystemTime::now()).unwrap(), 2);
    let update = fetch_update(&f.file_config(0), &f.destination()).unwrap();
    assert_eq!(update.version, 1);
}

#[test]
fn bad_signature_is_rejected() {
    let f = Fixture::new();
    f.publish(1);
    // Extend the timestamp's expiry without re-signing it.
    let path = f.repo.join("metadata/timestamp.json");
    let mut timestamp: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    timestamp["signed"]["expires"] = "2099-01-01T00:00:00Z".into();
    fs::write(&path, serde_json::to_vec_pretty(&timestamp).unwrap()).unwrap();

    let error = refused(&f.file_config(0), &f.destination(), "timestamp");
    assert!(
        matches!(&error, UpdateError::BadSignature { role: Role::Timestamp, file, valid: 0, threshold: 1 } if file == "timestamp.json"),
        "{error:?}"
    );
}

#[test]
fn too_few_signatures_are_rejected() {
    let f = Fixture::new();
    // A repository whose own root asks one targets signature, published with one targets key;
    // the node trusts the fleet's root, which asks two from the same keys.
    let one_key = f.path("keys-one-targets");
    fs::create_dir_all(&one_key).unwrap();
    for (role, path) in f.keys.files() {
        let name = path.file_name().unwrap();
        if *role != Role::Targets || name == "targets-1.pem" {
            fs::copy(path, one_key.join(name)).unwrap();
        }
    }
    let one_key = SigningKeys::load(&one_key).unwrap();
    assert_eq!(one_key.count(Role::Targets), 1);
    let lax = KeyPolicy { targets: RolePolicy { keys: 2, threshold: 1 }, ..test_policy() };
    let lax_repo = f.path("lax-repo");
    init(&lax_repo, &f.keys, &lax, &Lifetimes::default(), SystemTime::now()).unwrap();
    f.publish_to(&lax_repo, &one_key, 1);

    let config = f.config(format!("file://{}", lax_repo.display()), 0);
    let error = refused(&config, &f.destination(), "targets");
    assert!(
        matches!(&error, UpdateError::ThresholdNotMet { role: Role::Targets, file, valid: 1, threshold: 2 } if file == "1.targets.json"),
        "{error:?}"
    );
}

#[test]
fn expired_timestamp_is_rejected() {
    let f = Fixture::new();
    f.publish(1);
    // Signed two days ago for one day.
    refresh_timestamp(&f.repo, &f.keys, DAY, SystemTime::now() - 2 * DAY).unwrap();

    let error = refused(&f.file_config(0), &f.destination(), "timestamp");
    assert!(matches!(error, UpdateError::Expired { role: Role::Timestamp }), "{error:?}");
}

#[test]
fn snapshot_mixing_versions_is_rejected() {
    let f = Fixture::new();
    f.publish(1);
    f.publish(2);
    // Snapshot 2 names targets.json version 2; the repository serves version 1 in its place.
    let metadata = f.repo.join("metadata");
    fs::copy(metadata.join("1.targets.json"), metadata.join("2.targets.json")).unwrap();

    let error = refused(&f.file_config(1), &f.destination(), "targets");
    assert!(
        matches!(&error, UpdateError::SnapshotMismatch { role: Role::Targets, file, .. } if file == "2.targets.json"),
        "{error:?}"
    );
}

#[test]
fn lower_image_version_is_rejected() {
    let f = Fixture::new();
    f.publish(3);
    let dest = f.destination();
    let error = refused(&f.file_config(4), &dest, "version 3");
    assert!(matches!(error, UpdateError::Rollback { installed: 4, offered: 3 }), "{error:?}");
    let error = refused(&f.file_config(3), &dest, "version 3");
    assert!(matches!(error, UpdateError::Rollback { installed: 3, offered: 3 }), "{error:?}");
}

#[test]
fn metadata_rollback_is_rejected() {
    let f = Fixture::new();
    f.publish(1);
    let old_repo = f.path("repo-at-v1");
    copy_dir(&f.repo, &old_repo);
    f.publish(2);
    let dest = f.destination();
    fetch_update(&f.file_config(1), &f.path("dest-v2")).unwrap();

    // The node now trusts timestamp 2; a mirror replaying the v1 repository is refused.
    let config = f.config(format!("file://{}", old_repo.display()), 0);
    let error = refused(&config, &dest, "timestamp");
    assert!(
        matches!(error, UpdateError::MetadataRollback { role: Role::Timestamp, trusted: 2, offered: 1 }),
        "{error:?}"
    );
}

#[test]
fn rotated_root_is_followed_and_never_rolled_back() {
    let f = Fixture::new();
    f.publish(1);
    fetch_update(&f.file_config(0), &f.path("dest-v1")).unwrap();
    // Every key replaced: root 2 names only new keys and is cross-signed by the old root key.
    let new_keys = generate_keys(&f.path("keys-new"), &test_policy()).unwrap();
    rotate_root(&f.repo, &new_keys, &test_policy(), &f.keys, 365 * DAY, SystemTime::now()).unwrap();
    let image = f.publish_to(&f.repo, &new_keys, 2);
    let dest = f.destination();
    let update = fetch_update(&f.file_config(1), &dest).unwrap();
    assert_eq!(update.version, 2);
    assert_fetched(&image, &update, &dest);
    // The old keys can no longer publish.
    let targets: Vec<(&str, &Path)> = image.iter().map(|(n, p)| (n.as_str(), p.as_path())).collect();
    let error = publish(&f.repo, &f.keys, &targets, 3, &Lifetimes::default(), SystemTime::now()).unwrap_err();
    assert!(matches!(&error, UpdateError::Signing { reason, .. } if reason.contains("root.json")), "{error:?}");

    // A mirror that withholds root 2 is refused, every time: the datastore keeps root 2.
    let mirror = f.path("mirror");
    copy_dir(&f.repo, &mirror);
    fs::remove_file(mirror.join("metadata/2.root.json")).unwrap();
    let dest = f.path("dest-mirror");
    fs::create_dir_all(&dest).unwrap();
    fs::write(dest.join(SENTINEL), b"slot A").unwrap();
    let config = f.config(format!("file://{}", mirror.display()), 1);
    for _ in 0..2 {
        let error = refused(&config, &dest, "root");
        assert!(
            matches!(error, UpdateError::MetadataRollback { role: Role::Root, trusted: 2, offered: 1 }),
            "{error:?}"
        );
    }
}

#[test]
fn target_with_other_bytes_is_rejected() {
    let f = Fixture::new();
    f.publish(1);
    let target = f.repo_target("root.erofs");
    let mut bytes = fs::read(&target).unwrap();
    bytes[1000] ^= 0xff;
    fs::write(&target, &bytes).unwrap();
    let dest = f.destination();

    let error = refused(&f.file_config(0), &dest, "root.erofs");
    assert!(matches!(&error, UpdateError::TargetHashOrLength { target, .. } if target == "root.erofs"), "{error:?}");

    // A longer file is refused as well, as soon as it passes the signed length.
    bytes.extend_from_slice(b"appended");
    fs::write(&target, &bytes).unwrap();
    let error = refused(&f.file_config(0), &dest, "root.erofs");
    assert!(matches!(&error, UpdateError::TargetHashOrLength { target, .. } if target == "root.erofs"), "{error:?}");
}

#[test]
fn truncated_download_over_http_is_rejected() {
    let f = Fixture::new();
    let image = f.publish(1);
    let length = fs::metadata(&image[0].1).unwrap().len();
    let url = serve(f.repo.clone(), Some("uki.efi"));

    let error = refused(&f.config(url, 0), &f.destination(), "uki.efi");
    assert!(
        matches!(&error, UpdateError::Truncated { target, expected, received } if target == "uki.efi" && *expected == length && *received == length / 2),
        "{error:?}"
    );
}

#[test]
fn truncated_target_file_is_rejected() {
    let f = Fixture::new();
    let image = f.publish(1);
    let length = fs::metadata(&image[2].1).unwrap().len();
    let target = f.repo_target("root.verity");
    let bytes = fs::read(&target).unwrap();
    fs::write(&target, &bytes[..100]).unwrap();

    let error = refused(&f.file_config(0), &f.destination(), "root.verity");
    assert!(
        matches!(&error, UpdateError::Truncated { target, expected, received: 100 } if target == "root.verity" && *expected == length),
        "{error:?}"
    );
}

#[test]
fn operator_mistakes_are_refused() {
    let f = Fixture::new();
    // Keys are never overwritten.
    let error = generate_keys(&f.path("keys"), &test_policy()).unwrap_err();
    assert!(matches!(error, UpdateError::KeyExists { .. }), "{error:?}");
    // A root is never replaced.
    let error = init(&f.repo, &f.keys, &test_policy(), &Lifetimes::default(), SystemTime::now()).unwrap_err();
    assert!(matches!(error, UpdateError::RepositoryFile { .. }), "{error:?}");
    // A threshold above the keys present is refused.
    let greedy = KeyPolicy { snapshot: RolePolicy { keys: 1, threshold: 2 }, ..test_policy() };
    let error = init(&f.path("other-repo"), &f.keys, &greedy, &Lifetimes::default(), SystemTime::now()).unwrap_err();
    assert!(matches!(error, UpdateError::KeyPolicy { role: Role::Snapshot, .. }), "{error:?}");

    f.publish(2);
    let image = f.image(2);
    let targets: Vec<(&str, &Path)> = image.iter().map(|(n, p)| (n.as_str(), p.as_path())).collect();
    // The same or an older image version is refused.
    let error = publish(&f.repo, &f.keys, &targets, 2, &Lifetimes::default(), SystemTime::now()).unwrap_err();
    assert!(matches!(error, UpdateError::ImageVersionNotNewer { published: 2, offered: 2 }), "{error:?}");
    // One targets key cannot sign a release whose threshold is two.
    let one_key = f.path("keys-one");
    fs::create_dir_all(&one_key).unwrap();
    for (role, path) in f.keys.files() {
        if *role != Role::Targets || path.ends_with("targets-1.pem") {
            fs::copy(path, one_key.join(path.file_name().unwrap())).unwrap();
        }
    }
    let one_key = SigningKeys::load(&one_key).unwrap();
    let error = publish(&f.repo, &one_key, &targets, 3, &Lifetimes::default(), SystemTime::now()).unwrap_err();
    assert!(matches!(error, UpdateError::KeyPolicy { role: Role::Targets, .. }), "{error:?}");
    // A target name that is a path is refused.
    let bad = [("../uki.efi", targets[0].1)];
    let error = publish(&f.repo, &f.keys, &bad, 3, &Lifetimes::default(), SystemTime::now()).unwrap_err();
    assert!(matches!(error, UpdateError::TargetName { .. }), "{error:?}");
}

#[test]
fn repository_urls_are_checked() {
    let f = Fixture::new();
    for url in
        ["https://127.0.0.1/repo", "http://repo.example/repo", "http://0.0.0.0/repo", "ftp://127.0.0.1/", "not a url"]
    {
        let error = check_for_update(&f.config(url.to_owned(), 0)).unwrap_err();
        assert!(matches!(error, UpdateError::RepositoryUrl { .. }), "{url}: {error:?}");
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn the_http_head_corpus_is_refused_or_accepted_without_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/http_head");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        qp_update_repo::http_head_fuzz_harness(&bytes).unwrap();
        seen += 1;
    }
    assert!(seen >= 5);
}
