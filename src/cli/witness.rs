//! `asset-exchange witness`: polls a log's public checkpoint, checks it extends the last one
//! this witness cosigned (kept on disk), and posts its cosignature. A rolled-back or forked
//! log is refused loudly (exit status 2) and the state is left as it was.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::audit::checkpoint::TrustedKeys;
use crate::audit::tlog::{self, Hash};
use crate::audit::witness::{self, Refusal, State};

#[derive(Debug, clap::Args)]
pub struct WitnessArgs {
    /// The exchange's base URL, e.g. http://exchange.internal:8080 (plain HTTP: run the
    /// witness next to a TLS-terminating proxy, or on the internal network).
    #[arg(long)]
    pub log: String,
    /// The witness's Ed25519 signing key: a file holding a 32-byte seed in base64.
    #[arg(long)]
    pub key: PathBuf,
    /// The witness's name, as configured in the exchange's `audit.witnesses`.
    #[arg(long, default_value = "witness")]
    pub name: String,
    /// Where the witness keeps the last checkpoint it cosigned.
    #[arg(long, default_value = "./witness-state")]
    pub state: PathBuf,
    /// The log's public key (base64); by default the key of `/audit/public-key` is pinned at
    /// the first poll.
    #[arg(long)]
    pub log_public_key: Option<String>,
    /// Poll once and exit.
    #[arg(long)]
    pub once: bool,
    /// Seconds between polls.
    #[arg(long, default_value_t = 60)]
    pub interval: u64,
}

fn state_file(dir: &Path) -> PathBuf {
    dir.join("witness.json")
}

fn load_state(dir: &Path) -> anyhow::Result<Option<State>> {
    match std::fs::read_to_string(state_file(dir)) {
        Ok(text) => Ok(Some(
            serde_json::from_str(&text).context("the witness state file is damaged")?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).context("cannot read the witness state"),
    }
}

/// Writes the state atomically (a temporary file renamed over the old one).
fn save_state(dir: &Path, state: &State) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join("witness.json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(state)?)?;
    std::fs::rename(&tmp, state_file(dir))?;
    Ok(())
}

async fn get_text(client: &awc::Client, url: &str) -> anyhow::Result<String> {
    let mut resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("GET {url}: {e}"))?;
    let body = resp
        .body()
        .limit(1 << 20)
        .await
        .map_err(|e| anyhow::anyhow!("GET {url}: {e}"))?;
    let text = String::from_utf8(body.to_vec()).context("not UTF-8")?;
    anyhow::ensure!(
        resp.status().is_success(),
        "GET {url}: {} {text}",
        resp.status()
    );
    Ok(text)
}

async fn log_key(
    client: &awc::Client,
    base: &str,
    args: &WitnessArgs,
    state: Option<&State>,
) -> anyhow::Result<VerifyingKey> {
    let text = match (&args.log_public_key, state) {
        (Some(k), _) => k.clone(),
        (None, Some(s)) => s.log_key.clone(),
        (None, None) => {
            let v: serde_json::Value = serde_json::from_str(
                &get_text(client, &format!("{base}/api/v1/audit/public-key")).await?,
            )?;
            v["public_key"].as_str().unwrap_or_default().to_string()
        }
    };
    let keys = TrustedKeys::parse_list(&text)?;
    keys.first().copied().context("no log public key")
}

async fn consistency(
    client: &awc::Client,
    base: &str,
    from: u64,
    to: u64,
) -> anyhow::Result<Vec<Hash>> {
    let url = format!("{base}/api/v1/audit/consistency?from={from}&to={to}");
    let v: serde_json::Value = serde_json::from_str(&get_text(client, &url).await?)?;
    v["hashes"]
        .as_array()
        .context("no hashes in the consistency proof")?
        .iter()
        .map(|h| {
            h.as_str()
                .and_then(tlog::parse_hex)
                .context("a proof hash is not hex")
        })
        .collect()
}

/// One poll: `Ok(Some(size))` cosigned, `Err` with a [`Refusal`] inside for a bad log.
async fn poll(client: &awc::Client, args: &WitnessArgs, key: &SigningKey) -> anyhow::Result<u64> {
    let base = args.log.trim_end_matches('/');
    let state = load_state(&args.state)?;
    let note = get_text(client, &format!("{base}/api/v1/audit/checkpoints/latest")).await?;
    let log_key = log_key(client, base, args, state.as_ref()).await?;
    let proof = match witness::proof_needed(state.as_ref(), &note) {
        Some((from, to)) => consistency(client, base, from, to).await?,
        None => Vec::new(),
    };
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
    let accepted = witness::observe(
        state.as_ref(),
        &log_key,
        &note,
        &proof,
        &args.name,
        key,
        now,
    )?;
    save_state(&args.state, &accepted.state)?;
    let url = format!(
        "{base}/api/v1/audit/checkpoints/{}/cosignatures",
        accepted.size
    );
    let mut resp = client
        .post(&url)
        .send_json(&serde_json::json!({"cosignature": accepted.cosignature}))
        .await
        .map_err(|e| anyhow::anyhow!("POST {url}: {e}"))?;
    if !resp.status().is_success() {
        let body = resp.body().await.unwrap_or_default();
        anyhow::bail!(
            "POST {url}: {} {}",
            resp.status(),
            String::from_utf8_lossy(&body)
        );
    }
    Ok(accepted.size)
}

/// Runs the witness until stopped (or once).
pub async fn run(args: WitnessArgs) -> anyhow::Result<()> {
    let seed = std::fs::read_to_string(&args.key)
        .with_context(|| format!("cannot read {}", args.key.display()))?;
    let seed: [u8; 32] = STANDARD
        .decode(seed.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .context("the witness key must be a 32-byte seed in base64")?;
    let key = SigningKey::from_bytes(&seed);
    eprintln!(
        "witness {} public key {} (configure audit.witnesses = \"{}={}\")",
        args.name,
        STANDARD.encode(key.verifying_key().as_bytes()),
        args.name,
        STANDARD.encode(key.verifying_key().as_bytes())
    );
    crate::tls::use_ring();
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    loop {
        match poll(&client, &args, &key).await {
            Ok(size) => println!("cosigned the checkpoint of {size} entries"),
            Err(e) => {
                if let Some(refusal) = e.downcast_ref::<Refusal>() {
                    eprintln!("REFUSED: {refusal}");
                    eprintln!(
                        "the log is not trustworthy: nothing was cosigned, the state is kept"
                    );
                    std::process::exit(2);
                }
                if args.once {
                    return Err(e);
                }
                eprintln!("poll failed: {e:#}");
            }
        }
        if args.once {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(args.interval)).await;
    }
}
