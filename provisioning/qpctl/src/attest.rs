//! `qpctl enroll` and `qpctl attest`: the operator's side of attestation, against a node's TPM
//! service (`qp-attestd`, port 7200). The checks are `qp-attest-verify`'s (pure); this module
//! talks to the node, keeps the enrolment records, and issues the attested bridge certificate.
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use qp_attest_core::attest_proto::{FrameDecoder, Request, Response};
use rand_core::RngCore;

/// How long a node has to answer one request (a quote takes milliseconds; a TPM that is busy
/// with its first key creation, a few seconds).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, clap::Args)]
pub struct EnrollArgs {
    /// The node's TPM service, HOST:PORT (port 7200 on a node).
    #[arg(long)]
    pub node: String,
    /// The node's name in the fleet (its certificates will name it).
    #[arg(long)]
    pub name: String,
    /// Its role: cloud or local.
    #[arg(long)]
    pub role: String,
    /// A certificate of the TPM manufacturer's CA (PEM or DER); repeat for several.
    #[arg(long = "manufacturer-ca", required = true)]
    pub manufacturer_ca: Vec<PathBuf>,
    /// The folder of enrolment records (`<name>.json` is written there).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct AttestArgs {
    /// The node's TPM service, HOST:PORT.
    #[arg(long)]
    pub node: String,
    /// The node's enrolment record (`qpctl enroll`).
    #[arg(long)]
    pub enrolled: PathBuf,
    /// The golden values of the image the node must run (`golden.json` from `qpctl image build`).
    #[arg(long)]
    pub golden: PathBuf,
    /// The fleet CA's folder: on a pass, a bridge certificate is issued and installed on the node.
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// The bridge certificate's lifetime in seconds (minutes to hours).
    #[arg(long, default_value_t = 3600)]
    pub lifetime_s: u64,
    /// Print the verdict as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What `qpctl enroll` keeps per node.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnrolmentRecord {
    pub(crate) role: String,
    pub(crate) enrolled: qp_attest_verify::EnrolledNode,
}

/// An enrolment record `qpctl enroll` wrote.
pub(crate) fn read_enrolment(path: &std::path::Path) -> anyhow::Result<EnrolmentRecord> {
    serde_json::from_slice(&std::fs::read(path).with_context(|| path.display().to_string())?)
        .with_context(|| format!("{}: not an enrolment record", path.display()))
}

/// One request, its one answer.
pub(crate) fn exchange(node: &str, request: &Request) -> anyhow::Result<Response> {
    let addr = node.parse::<std::net::SocketAddr>().with_context(|| format!("node address {node}"))?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).with_context(|| node.to_owned())?;
    stream.set_read_timeout(Some(ANSWER_TIMEOUT))?;
    stream.set_write_timeout(Some(ANSWER_TIMEOUT))?;
    stream.write_all(&request.encode())?;
    let mut decoder = FrameDecoder::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if let Some(response) = decoder.next_response().with_context(|| format!("{node}: malformed answer"))? {
            if let Response::Error { code, message } = &response {
                bail!("{node}: the node refused ({code}): {message}");
            }
            return Ok(response);
        }
        let n = stream.read(&mut buf).with_context(|| format!("{node}: no answer"))?;
        if n == 0 {
            bail!("{node}: closed the connection without an answer");
        }
        decoder.push(&buf[..n]);
    }
}

fn read_certificates(paths: &[PathBuf]) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for path in paths {
        let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
        if bytes.starts_with(b"-----BEGIN") {
            let text = String::from_utf8(bytes).with_context(|| path.display().to_string())?;
            out.extend(qp_bridge_identity::pem_certificates(&text, path)?);
        } else {
            out.push(bytes);
        }
    }
    Ok(out)
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

pub(crate) fn random32() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut bytes);
    bytes
}

pub fn enroll(args: EnrollArgs) -> anyhow::Result<()> {
    let role: qp_bridge_identity::Role = args.role.parse()?;
    if !role.is_node() {
        bail!("--role must be cloud or local");
    }
    qp_bridge_identity::NodeId::new("fleet", role, &args.name)?;
    let manufacturer = read_certificates(&args.manufacturer_ca)?;
    let Response::Enrollment { ek_certificate_der, ek_public, ak_public, identity_public } =
        exchange(&args.node, &Request::GetEnrollment)?
    else {
        bail!("{}: answered GetEnrollment with something else", args.node);
    };
    let (challenge, pending) = qp_attest_verify::Enrollment::begin(
        &args.name,
        ek_certificate_der,
        ek_public,
        ak_public,
        identity_public,
        &manufacturer,
        unix_now(),
        random32(),
        random32(),
        &mut rand_core::OsRng,
    )
    .context("enrolment refused")?;
    let request = Request::ActivateCredential {
        credential_blob: challenge.credential_blob,
        encrypted_secret: challenge.encrypted_secret,
    };
    let Response::Activated { secret } = exchange(&args.node, &request)? else {
        bail!("{}: answered ActivateCredential with something else", args.node);
    };
    let enrolled = pending.finish(&secret).context("enrolment refused")?;
    std::fs::create_dir_all(&args.out).with_context(|| args.out.display().to_string())?;
    let path = args.out.join(format!("{}.json", args.name));
    let record = EnrolmentRecord { role: role.as_str().to_owned(), enrolled };
    std::fs::write(&path, serde_json::to_string_pretty(&record)? + "\n").with_context(|| path.display().to_string())?;
    println!(
        "enrolled {} ({}): its attestation key is in the TPM whose endorsement key the manufacturer certified; record {}",
        args.name,
        role.as_str(),
        path.display()
    );
    Ok(())
}

pub fn attest(args: AttestArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let record = read_enrolment(&args.enrolled)?;
    let golden = qp_attest_core::golden::GoldenValues::from_json(
        &std::fs::read(&args.golden).with_context(|| args.golden.display().to_string())?,
    )
    .with_context(|| args.golden.display().to_string())?;
    let mut nonces = qp_attest_verify::NonceBook::default();
    let now_ms = || SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let nonce = nonces.issue(random32(), now_ms());
    let Response::Evidence { image_id, quote_attest, quote_signature, log, certify_attest, certify_signature } =
        exchange(&args.node, &Request::Quote { nonce })?
    else {
        bail!("{}: answered Quote with something else", args.node);
    };
    nonces.redeem(&nonce, now_ms()).context("the nonce")?;
    let evidence = qp_attest_verify::EvidenceParts {
        image_id,
        quote_attest,
        quote_signature,
        log,
        certify_attest,
        certify_signature,
    };
    let verdict = qp_attest_verify::verify_evidence(&record.enrolled, &nonce, &evidence, &golden);
    let mut certificate = serde_json::Value::Null;
    if verdict.pass
        && let Some(ca_dir) = &args.ca
    {
        let ca = qp_bridge_identity::FleetCa::load(ca_dir)?;
        let public = qp_attest_core::tpm_struct::PublicArea::decode(&record.enrolled.identity_public)
            .context("the enrolled identity key")?;
        let point = public.ecc_p256_point().context("the enrolled identity key is not a P-256 key")?;
        let key = qp_node_key::PublicKey::from_sec1(&point)?;
        let role: qp_bridge_identity::Role = record.role.parse()?;
        let validity = qp_bridge_identity::Validity::starting_now(Duration::from_secs(args.lifetime_s));
        let issued = ca.issue_attested(role, &record.enrolled.node, &key, validity, &golden.image_id)?;
        exchange(&args.node, &Request::InstallCertificate { cert_der: issued.der.clone() })?;
        let not_after = validity.not_after.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        certificate = serde_json::json!({"node": issued.id.uri(), "not_after_unix": not_after, "installed": true});
    }
    let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    let pcrs: serde_json::Map<String, serde_json::Value> = verdict
        .pcrs
        .iter()
        .map(|(pcr, value)| (pcr.to_string(), serde_json::Value::String(qp_attest_core::hex(value))))
        .collect();
    let out = serde_json::json!({
        "verdict": if verdict.pass { "pass" } else { "fail" },
        "reasons": verdict.reasons,
        "pcrs": pcrs,
        "image_id": golden.image_id,
        "certificate": certificate,
        "elapsed_ms": (elapsed_ms * 10.0).round() / 10.0,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{}: {}", record.enrolled.node, if verdict.pass { "PASS" } else { "FAIL" });
        for reason in &verdict.reasons {
            println!("  - {reason}");
        }
        if !certificate.is_null() {
            println!("  bridge certificate installed, valid {} s", args.lifetime_s);
        }
    }
    if !verdict.pass {
        std::process::exit(1);
    }
    Ok(())
}
