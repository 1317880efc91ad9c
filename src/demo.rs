//! `sts-broker demo`: the broker wired to the built-in STS and OSS emulators on loopback, with no cloud
//! account and no configuration beyond an optional `BROKER_LISTEN`. Never used by `serve`.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::{SocketAddr, TcpListener};

use crate::clock::SystemClock;
use crate::config::Settings;
use crate::startup::{Application, Dependencies};
use broker_emulators::oss::{EmulatedCorsRule, OssEmulator, OssEmulatorConfig};
use broker_emulators::sts::{StsEmulator, StsEmulatorConfig};

pub const DEMO_BUCKET: &str = "demo-bucket";
pub const DEMO_REGION: &str = "cn-hangzhou";
pub const DEMO_ROLE: &str = "demo-uploader";

/// The settings `demo` runs the broker with, pointed at an emulator, with `extra` variables on
/// top (the OSS emulator's host, the callback profile).
pub fn demo_settings(
    emulator: &StsEmulator,
    config: &StsEmulatorConfig,
    listen: SocketAddr,
    extra: &[(String, String)],
) -> Result<Settings, crate::config::ConfigError> {
    let (key_id, key_secret) = config
        .access_keys
        .first()
        .cloned()
        .expect("the demo emulator has an access key");
    let vars: HashMap<String, String> = [
        ("BROKER_LISTEN", listen.to_string()),
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", key_id),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", key_secret),
        (
            "BROKER_ROLE_ARN",
            format!("acs:ram::{}:role/{DEMO_ROLE}", config.account_id),
        ),
        ("BROKER_STS_ENDPOINT", emulator.endpoint()),
        ("BROKER_BUCKET", DEMO_BUCKET.to_owned()),
        ("BROKER_REGION", DEMO_REGION.to_owned()),
        ("BROKER_AUTH", "none".to_owned()),
        // The demo hands out only the emulator's credentials, so anonymous callers are fine
        // even on a non-loopback address (a container publishing its port, say).
        ("BROKER_ALLOW_ANONYMOUS", "true".to_owned()),
        ("BROKER_LOG_FORMAT", "pretty".to_owned()),
        ("BROKER_SHUTDOWN_TIMEOUT_SECONDS", "5".to_owned()),
        // The demo page shows a thumbnail through a signed URL with this process.
        ("BROKER_DOWNLOAD_PROCESSES", DEMO_THUMBNAIL.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .chain(PASSED_THROUGH.iter().filter_map(|name| {
        std::env::var(name)
            .ok()
            .map(|value| ((*name).to_owned(), value))
    }))
    .chain(extra.iter().cloned())
    .collect();
    Settings::from_map(&vars)
}

/// The variables of the demo's callback profile `with-callback`: a profiles file, the broker's
/// own `/ossCallback`, a fresh secret and the OSS emulator's callback key pinned (files in a
/// new temporary directory).
fn callback_profile(
    oss: &OssEmulator,
    address: SocketAddr,
) -> std::io::Result<Vec<(String, String)>> {
    let dir = std::env::temp_dir().join(format!("sts-broker-demo-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let base = broker_url(address);
    let profiles = dir.join("profiles.toml");
    std::fs::write(
        &profiles,
        format!(
            "[profiles.with-callback]\nprefix = \"callbacks/${{sub}}/\"\n\n[profiles.with-callback.callback]\nforward_url = \"{base}/demo/uploaded\"\n"
        ),
    )?;
    let key = dir.join("oss-callback-key.pem");
    std::fs::write(&key, oss.callback_public_key_pem())?;
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    Ok([
        ("BROKER_UPLOAD_HOST", oss.bucket_url()),
        ("BROKER_PROFILES_FILE", profiles.display().to_string()),
        ("BROKER_CALLBACK_URL", format!("{base}/ossCallback")),
        ("BROKER_CALLBACK_SECRET", secret),
        ("BROKER_CALLBACK_PUBLIC_KEY_FILE", key.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect())
}

/// The bucket CORS rule that lets the demo page (served by the broker at `address`) post forms,
/// PUT multipart parts and read their `ETag`, and read objects back (protocol.md §5.6, §18.2):
/// its origin as a browser may spell it.
pub fn demo_page_cors_rule(address: SocketAddr) -> EmulatedCorsRule {
    let port = address.port();
    let mut origins = vec![format!("http://{address}")];
    if address.ip().is_loopback() || address.ip().is_unspecified() {
        origins.push(format!("http://127.0.0.1:{port}"));
        origins.push(format!("http://localhost:{port}"));
    }
    origins.dedup();
    EmulatedCorsRule {
        origins,
        methods: vec!["GET".into(), "POST".into(), "PUT".into(), "HEAD".into()],
        headers: vec!["*".into()],
        expose: vec!["ETag".into(), "x-oss-request-id".into()],
        max_age: Some(600),
    }
}

/// Variables `demo` takes from the environment on top of its fixed settings (e.g. generous rate
/// limits for a load or contract test); a bad value stops the demo with the usual
/// configuration message, from [`demo_settings`].
/// The `x-oss-process` the demo allows: the page's thumbnail (the emulator echoes it).
pub const DEMO_THUMBNAIL: &str = "image/resize,w_200";

pub const PASSED_THROUGH: &[&str] = &[
    "BROKER_RATE_LIMIT_PER_MINUTE",
    "BROKER_RATE_LIMIT_BURST",
    "BROKER_MAX_UPLOAD_BYTES",
];

/// The URL a browser or `curl` on this host reaches the broker at: a wildcard bind
/// (`0.0.0.0`, `[::]`) is reached on loopback.
pub fn broker_url(address: SocketAddr) -> String {
    format!("http://{}", crate::healthcheck::probe_address(address))
}

/// The jq program that turns a `/getPostObjectParams` answer into a curl config posting
/// `hello.txt`: the URL, the key under `dir`, every field of the form as given (all but the
/// answer's `host`, `dir`, `expire` and `profile`, as the kit does), then the file, last.
const FORM_TO_CURL_CONFIG: &str = r#""url = \(.host)", "form-string = key=\(.dir)hello.txt", (del(.host, .dir, .expire, .profile) | to_entries[] | "form-string = \(.key)=\(.value)"), "form = file=@hello.txt""#;

/// Where the demo's emulators are and what they accept: printed so that more brokers
/// (`sts-broker serve`, a fleet trial) can use them too.
pub struct Emulators<'a> {
    pub sts_url: &'a str,
    pub bucket_url: &'a str,
    /// The STS emulator's long-term AccessKey: it works against the emulator only.
    pub key_id: &'a str,
    pub key_secret: &'a str,
    pub role_arn: &'a str,
}

/// What the demo prints once it is up: where everything is and what to try.
pub fn banner(address: SocketAddr, emulators: &Emulators<'_>) -> String {
    let Emulators {
        sts_url,
        bucket_url,
        key_id,
        key_secret,
        role_arn,
    } = emulators;
    let url = broker_url(address);
    let mut out = format!("sts-broker demo\n\n  broker:        {url}\n");
    if address.ip().is_unspecified() {
        out.push_str(&format!(
            "  listening on:  {address} (every interface; from another machine, use this host's address)\n"
        ));
    }
    out.push_str(&format!(
        "  STS emulator:  {sts_url}\n  OSS emulator:  {bucket_url}\n  \
         AccessKey:     {key_id} / {key_secret} (the STS emulator's own; it works nowhere else)\n  \
         role:          {role_arn}\n  \
         bucket:        {DEMO_BUCKET} ({DEMO_REGION}), kept in memory: objects are gone when the demo stops\n  \
         callers:       `anonymous` (the demo authenticates no one)\n"
    ));
    out.push_str(&format!(
        "\nUpload a file from a browser:\n  {url}/demo\n\nTry:\n"
    ));
    for path in [
        "/getToken",
        "/getPostObjectParams",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        out.push_str(&format!("  curl -s {url}{path}\n"));
    }
    out.push_str(&format!(
        "\nPost a file with a form the broker signed (curl and jq), then read it back:\n  \
         echo 'hello from the sts-broker demo' > hello.txt\n  \
         curl -s {url}/getPostObjectParams \\\n    \
         | jq -r '{FORM_TO_CURL_CONFIG}' \\\n    \
         | curl -s -o /dev/null -w 'OSS answered %{{http_code}}\\n' -K -\n  \
         curl -s {bucket_url}/uploads/anonymous/hello.txt\n\n\
         Or through a signed download URL:\n  \
         curl -s \"$(curl -s '{url}/getObjectUrl?key=uploads/anonymous/hello.txt' | jq -r .url)\"\n"
    ));
    out.push_str(&format!(
        "\nRun more brokers against these emulators (a fleet on one machine: docs/fleet.md):\n  \
         ALIBABA_CLOUD_ACCESS_KEY_ID={key_id} ALIBABA_CLOUD_ACCESS_KEY_SECRET={key_secret} \\\n  \
         BROKER_ROLE_ARN={role_arn} BROKER_STS_ENDPOINT={sts_url} \\\n  \
         BROKER_BUCKET={DEMO_BUCKET} BROKER_REGION={DEMO_REGION} BROKER_UPLOAD_HOST={bucket_url} \\\n  \
         BROKER_AUTH=none BROKER_LISTEN=127.0.0.1:8081 sts-broker\n"
    ));
    out.push_str("\nPress Ctrl-C to stop (in-flight requests finish first).");
    out
}

/// Why the demo cannot listen on `listen` (`BROKER_LISTEN`), and how to pick another port.
fn listen_failure(listen: SocketAddr, e: std::io::Error) -> std::io::Error {
    let message = match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            let next = SocketAddr::new(listen.ip(), listen.port().checked_add(1).unwrap_or(8081));
            let any = SocketAddr::new(listen.ip(), 0);
            format!(
                "cannot listen on {listen} (BROKER_LISTEN): the address is already in use, perhaps by another sts-broker or demo. \
                 Stop that one, or pick another port: BROKER_LISTEN={next} sts-broker demo (or BROKER_LISTEN={any} for any free port)"
            )
        }
        _ => format!("cannot listen on {listen} (BROKER_LISTEN): {e}"),
    };
    std::io::Error::new(e.kind(), message)
}

/// Runs the demo until SIGINT (Ctrl-C) or SIGTERM, then stops gracefully like `serve`.
/// `listen` comes from `BROKER_LISTEN` (default 127.0.0.1:8080).
pub async fn run(listen: SocketAddr) -> std::io::Result<()> {
    // First: an address in use is the likeliest failure, and nothing needs stopping yet.
    let broker_listener = TcpListener::bind(listen).map_err(|e| listen_failure(listen, e))?;
    let config = StsEmulatorConfig::demo();
    let emulator_listener = TcpListener::bind(("127.0.0.1", 0))?;
    let emulator = StsEmulator::start_on(config.clone(), emulator_listener).await?;
    let oss = OssEmulator::start_on(
        OssEmulatorConfig {
            bucket: DEMO_BUCKET.to_owned(),
            region: DEMO_REGION.to_owned(),
            keys: emulator.keys(),
            clock: std::sync::Arc::new(SystemClock),
        },
        TcpListener::bind(("127.0.0.1", 0))?,
    )
    .await?;
    let address = broker_listener.local_addr()?;
    // Path-style on loopback: forms are posted to the emulated bucket. A second profile has an
    // upload callback: OSS (the emulator) calls the broker back, which forwards to the demo's
    // own app at /demo/uploaded.
    let extra = callback_profile(&oss, address)?;
    let settings =
        demo_settings(&emulator, &config, listen, &extra).map_err(std::io::Error::other)?;
    // The demo page is served by the broker and posts to the emulated bucket on another port.
    oss.set_cors_rules(Some(vec![demo_page_cors_rule(address)]));
    let app = Application::build_with_routes(
        settings,
        Dependencies::default(),
        broker_listener,
        crate::routes::demo_page::configure,
    )?;
    let (key_id, key_secret) = config.access_keys[0].clone();
    let emulators = Emulators {
        sts_url: &emulator.endpoint(),
        bucket_url: &oss.bucket_url(),
        key_id: &key_id,
        key_secret: &key_secret,
        role_arn: &format!("acs:ram::{}:role/{DEMO_ROLE}", config.account_id),
    };
    println!("{}", banner(address, &emulators));
    let result = app.run_until_signalled().await;
    oss.stop().await;
    emulator.stop().await;
    // stdout may be a closed pipe by now (`demo | head`); the message is not worth a panic.
    let _ = writeln!(std::io::stdout(), "sts-broker demo stopped");
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_in_use_suggests_another_port_on_the_same_address() {
        let message = |listen: &str| {
            listen_failure(
                listen.parse().unwrap(),
                std::io::Error::from(std::io::ErrorKind::AddrInUse),
            )
            .to_string()
        };
        let m = message("[::1]:8080");
        assert!(
            m.starts_with("cannot listen on [::1]:8080 (BROKER_LISTEN)"),
            "{m}"
        );
        assert!(
            m.contains("BROKER_LISTEN=[::1]:8081 sts-broker demo"),
            "{m}"
        );
        assert!(m.contains("BROKER_LISTEN=[::1]:0 for any free port"), "{m}");
        assert!(message("127.0.0.1:65535").contains("BROKER_LISTEN=127.0.0.1:8081"));
    }

    #[test]
    fn a_wildcard_bind_is_printed_as_loopback() {
        for (listen, url) in [
            ("0.0.0.0:8080", "http://127.0.0.1:8080"),
            ("[::]:8080", "http://[::1]:8080"),
            ("10.1.2.3:8080", "http://10.1.2.3:8080"),
        ] {
            let emulators = Emulators {
                sts_url: "http://sts",
                bucket_url: "http://oss/b",
                key_id: "LTAIdemo",
                key_secret: "demo-secret",
                role_arn: "acs:ram::1:role/demo-uploader",
            };
            let text = banner(listen.parse().unwrap(), &emulators);
            assert!(
                text.contains("AccessKey:     LTAIdemo / demo-secret"),
                "{text}"
            );
            assert!(
                text.contains("role:          acs:ram::1:role/demo-uploader\n"),
                "{text}"
            );
            assert!(text.contains("BROKER_STS_ENDPOINT=http://sts "), "{text}");
            assert!(text.contains(&format!("broker:        {url}\n")), "{text}");
            assert!(text.contains(&format!("{url}/demo\n")), "{text}");
            assert!(!text.contains("http://0.0.0.0") && !text.contains("http://[::]"));
            assert_eq!(
                text.contains(&format!("listening on:  {listen}")),
                listen != "10.1.2.3:8080",
                "{text}"
            );
        }
    }
}
