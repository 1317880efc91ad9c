//! Every environment variable the broker reads, in one table: its name, its default, the
//! section that reads it and whether its value is a secret. The reader refuses to read a name
//! that is not here, and a test checks this table against `.env.example` and
//! `docs/configuration.md`, so the three cannot drift apart.

/// Which part of the configuration a variable belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Server,
    Identity,
    Sts,
    Credentials,
    Upload,
    PostSigning,
    Downloads,
    Fleet,
    Access,
}

/// One variable.
#[derive(Debug, Clone, Copy)]
pub struct Variable {
    pub name: &'static str,
    /// The default as documented; `None` when unset means "required" or "off".
    pub default: Option<&'static str>,
    pub section: Section,
    /// Its value must never appear in a message, a log line or `Debug` output.
    pub secret: bool,
}

const fn var(name: &'static str, default: Option<&'static str>, section: Section) -> Variable {
    Variable {
        name,
        default,
        section,
        secret: false,
    }
}

const fn secret(name: &'static str, section: Section) -> Variable {
    Variable {
        name,
        default: None,
        section,
        secret: true,
    }
}

use Section::*;

/// The whole table, in the order `docs/configuration.md` presents them.
pub const VARIABLES: &[Variable] = &[
    var("BROKER_LISTEN", Some("127.0.0.1:8080"), Server),
    var(
        "BROKER_ALLOWED_HOSTS",
        Some("localhost,127.0.0.1,[::1] on a loopback BROKER_LISTEN, else *"),
        Server,
    ),
    var("BROKER_LOG_FORMAT", Some("json"), Server),
    var("BROKER_SHUTDOWN_TIMEOUT_SECONDS", Some("30"), Server),
    var("BROKER_METRICS_LISTEN", None, Server),
    var("OTEL_EXPORTER_OTLP_ENDPOINT", None, Server),
    var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", None, Server),
    var("OTEL_SERVICE_NAME", Some("sts-broker"), Server),
    var("OTEL_RESOURCE_ATTRIBUTES", None, Server),
    var("OTEL_TRACES_SAMPLER", Some("parentbased_always_on"), Server),
    var("OTEL_TRACES_SAMPLER_ARG", None, Server),
    var("ALIBABA_CLOUD_ACCESS_KEY_ID", None, Identity),
    secret("ALIBABA_CLOUD_ACCESS_KEY_SECRET", Identity),
    secret("ALIBABA_CLOUD_SECURITY_TOKEN", Identity),
    var("ALIBABA_CLOUD_ROLE_ARN", None, Identity),
    var("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", None, Identity),
    var("ALIBABA_CLOUD_OIDC_TOKEN_FILE", None, Identity),
    var("ALIBABA_CLOUD_ROLE_SESSION_NAME", None, Identity),
    var(
        "ALIBABA_CLOUD_CREDENTIALS_FILE",
        Some("$HOME/.alibabacloud/credentials"),
        Identity,
    ),
    var("ALIBABA_CLOUD_PROFILE", Some("default"), Identity),
    var("ALIBABA_CLOUD_ECS_METADATA", None, Identity),
    var(
        "ALIBABA_CLOUD_ECS_METADATA_DISABLED",
        Some("false"),
        Identity,
    ),
    var("ALIBABA_CLOUD_IMDSV1_DISABLED", Some("false"), Identity),
    var(
        "BROKER_IMDS_ENDPOINT",
        Some("http://100.100.100.200"),
        Identity,
    ),
    var("BROKER_ROLE_ARN", None, Sts),
    var("BROKER_STS_REGION", None, Sts),
    var("BROKER_STS_ENDPOINT", Some("https://sts.aliyuncs.com"), Sts),
    var("BROKER_STS_CONNECT_TIMEOUT_MS", Some("5000"), Sts),
    var("BROKER_STS_TIMEOUT_MS", Some("10000"), Sts),
    var("BROKER_STS_RETRY_BUDGET_MS", Some("8000"), Sts),
    var("BROKER_STS_MAX_QPS", Some("50"), Sts),
    var("BROKER_STS_REFRESH_RESERVE_PERCENT", Some("20"), Sts),
    var("BROKER_DURATION_SECONDS", Some("3600"), Credentials),
    var(
        "BROKER_REFRESH_AHEAD_SECONDS",
        Some("a quarter of the duration"),
        Credentials,
    ),
    var(
        "BROKER_MIN_TTL_SECONDS",
        Some("a twelfth of the duration"),
        Credentials,
    ),
    var("BROKER_REFRESH_JITTER_MS", Some("5000"), Credentials),
    var("BROKER_CACHE_MAX_ENTRIES", Some("10000"), Credentials),
    var(
        "BROKER_NEW_CALLERS_PER_ADDRESS_PER_MINUTE",
        Some("600"),
        Credentials,
    ),
    var(
        "BROKER_NEW_CALLERS_PER_SECOND",
        Some("BROKER_STS_MAX_QPS, at least 10"),
        Credentials,
    ),
    var("BROKER_BUCKET", None, Upload),
    var("BROKER_REGION", None, Upload),
    var(
        "BROKER_UPLOAD_HOST",
        Some("https://<bucket>.oss-<region>.aliyuncs.com"),
        Upload,
    ),
    var("BROKER_UPLOAD_PREFIX", Some("uploads/${sub}/"), Upload),
    var("BROKER_PROFILES_FILE", None, Upload),
    var("BROKER_CALLBACK_URL", None, Upload),
    secret("BROKER_CALLBACK_SECRET", Upload),
    var("BROKER_CALLBACK_PUBLIC_KEY_FILE", None, Upload),
    var("BROKER_POST_SIGNATURE", Some("v4"), PostSigning),
    var("BROKER_POST_CREDENTIALS", Some("shared"), PostSigning),
    var("BROKER_POST_POLICY_TTL_SECONDS", Some("600"), PostSigning),
    var("BROKER_MAX_UPLOAD_BYTES", Some("10485760"), PostSigning),
    var("BROKER_ALLOWED_CONTENT_TYPES", None, PostSigning),
    var("BROKER_OSS_ENDPOINT", None, PostSigning),
    var("BROKER_OBJECT_KEY", Some("client"), PostSigning),
    var("BROKER_OVERWRITE", Some("true"), PostSigning),
    var("BROKER_PART_URL_TTL_SECONDS", Some("900"), PostSigning),
    var("BROKER_DOWNLOADS", Some("own"), Downloads),
    var("BROKER_DOWNLOAD_PREFIXES", None, Downloads),
    var(
        "BROKER_DOWNLOAD_MAX_EXPIRES_SECONDS",
        Some("3600"),
        Downloads,
    ),
    var("BROKER_DOWNLOAD_PROCESSES", None, Downloads),
    var("BROKER_DOWNLOAD_HOST", Some("the upload host"), Downloads),
    secret("BROKER_REDIS_URL", Fleet),
    secret("BROKER_CACHE_ENCRYPTION_KEY", Fleet),
    secret("BROKER_CACHE_ENCRYPTION_KEY_PREVIOUS", Fleet),
    var("BROKER_REDIS_MODE", Some("standalone"), Fleet),
    var("BROKER_REDIS_CA_FILE", None, Fleet),
    var("BROKER_REDIS_KEY_PREFIX", Some("sts-broker:"), Fleet),
    var("BROKER_REDIS_TIMEOUT_MS", Some("250"), Fleet),
    var("BROKER_AUTH", None, Access),
    var("BROKER_ALLOW_ANONYMOUS", Some("false"), Access),
    secret("BROKER_JWT_HS256_SECRET", Access),
    var("BROKER_JWT_JWKS_URL", None, Access),
    var("BROKER_JWT_ISSUER", None, Access),
    var("BROKER_JWT_AUDIENCE", None, Access),
    var("BROKER_JWT_SUBJECT_CLAIM", Some("sub"), Access),
    var("BROKER_JWT_LEEWAY_SECONDS", Some("30"), Access),
    var("BROKER_JWT_MAX_LIFETIME_SECONDS", None, Access),
    var("BROKER_JWT_JWKS_MAX_AGE_SECONDS", Some("600"), Access),
    var("BROKER_JWT_JWKS_MIN_REFETCH_SECONDS", Some("30"), Access),
    var("BROKER_API_KEYS", None, Access),
    var("BROKER_API_KEYS_FILE", None, Access),
    var(
        "BROKER_TRUSTED_HEADER",
        Some("X-Authenticated-User"),
        Access,
    ),
    var(
        "BROKER_TRUSTED_PROXIES",
        Some("127.0.0.0/8,::1/128"),
        Access,
    ),
    var("BROKER_FORWARDED_HEADER", Some("none"), Access),
    var("BROKER_FORWARDING_PROXIES", None, Access),
    var("BROKER_CORS_ORIGINS", None, Access),
    var("BROKER_RATE_LIMIT_PER_MINUTE", Some("60"), Access),
    var("BROKER_RATE_LIMIT_BURST", Some("10"), Access),
    var("BROKER_AUTH_FAILURE_LIMIT_PER_MINUTE", Some("10"), Access),
];

/// The table entry for `name`.
pub fn lookup(name: &str) -> Option<&'static Variable> {
    VARIABLES.iter().find(|v| v.name == name)
}

/// The name prefixes the broker's variables share; a set variable with one of them (in any
/// case) that is not in the table is most likely a misspelling.
pub const PREFIXES: &[&str] = &["BROKER_", "ALIBABA_CLOUD_"];

/// A set variable that looks like one of the broker's (`BROKER_*`, `ALIBABA_CLOUD_*`) but is not
/// in [`VARIABLES`], with the known name nearest to it. Only names are looked at, never values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownVariable {
    pub name: String,
    /// The table's name with the smallest edit distance to `name`.
    pub nearest: &'static str,
    /// Whether `nearest` is close enough to be what was meant.
    pub likely_meant: bool,
}

impl std::fmt::Display for UnknownVariable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = &self.name;
        let nearest = self.nearest;
        if name.eq_ignore_ascii_case(nearest) {
            write!(
                f,
                "{name} is set, but sts-broker reads no such variable; names are case-sensitive: did you mean {nearest}?"
            )
        } else if self.likely_meant {
            write!(
                f,
                "{name} is set, but sts-broker reads no such variable; did you mean {nearest}?"
            )
        } else {
            write!(
                f,
                "{name} is set, but sts-broker reads no such variable (the nearest it reads is {nearest}; docs/configuration.md lists them all)"
            )
        }
    }
}

/// Every name in `names` that has one of the [`PREFIXES`] but is not in [`VARIABLES`], sorted,
/// each with its nearest known name.
pub fn unknown<I, S>(names: I) -> Vec<UnknownVariable>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut found: Vec<UnknownVariable> = names
        .into_iter()
        .filter_map(|name| {
            let name = name.as_ref();
            let upper = name.to_ascii_uppercase();
            let ours = PREFIXES.iter().any(|p| upper.starts_with(p));
            if !ours || lookup(name).is_some() {
                return None;
            }
            let (nearest, distance) = VARIABLES
                .iter()
                .map(|v| (v.name, edit_distance(&upper, v.name)))
                .min_by_key(|&(_, d)| d)
                .expect("the table is not empty");
            Some(UnknownVariable {
                name: name.to_owned(),
                nearest,
                // A slip of a few keys; farther names are only pointed at.
                likely_meant: distance <= 2.max(upper.len() / 6),
            })
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found.dedup();
    found
}

/// The optimal-string-alignment distance: insertions, deletions, substitutions and swaps of two
/// neighbouring characters each count 1 (`BUKET` → `BUCKET` is 1, `BUCKTE` → `BUCKET` is 1).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // rows[i][j]: distance between a[..i] and b[..j].
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = d;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::{edit_distance, unknown, VARIABLES};

    /// Every `BROKER_*` / `ALIBABA_CLOUD_*` name in `text`.
    fn names_in(text: &str) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        for prefix in ["BROKER_", "ALIBABA_CLOUD_", "OTEL_"] {
            let mut rest = text;
            while let Some(at) = rest.find(prefix) {
                let before = rest[..at].chars().next_back();
                let tail = &rest[at..];
                let end = tail
                    .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                    .unwrap_or(tail.len());
                let name = &tail[..end];
                // `BROKER_JWT_ variables` names a family, not a variable.
                if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                    && name.len() > prefix.len()
                    && !name.ends_with('_')
                {
                    found.insert(name.to_owned());
                }
                rest = &tail[end.max(1)..];
            }
        }
        found
    }

    fn read(relative: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The names the configuration code reads: string literals in `src/config/`.
    fn read_by_code() -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src/config")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path
                    .file_name()
                    .is_some_and(|n| n != "variables.rs" && n != "tests.rs")
                {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for quoted in text.split('"').skip(1).step_by(2) {
                        names.extend(names_in(quoted).into_iter().filter(|n| n == quoted));
                    }
                }
            }
        }
        names
    }

    #[test]
    fn the_table_the_code_the_example_and_the_docs_agree() {
        let table: BTreeSet<String> = VARIABLES.iter().map(|v| v.name.to_owned()).collect();
        assert_eq!(table.len(), VARIABLES.len(), "a variable is listed twice");
        let code = read_by_code();
        let example = names_in(&read(".env.example"));
        let docs = names_in(&read("docs/configuration.md"));
        for (what, names) in [
            ("the configuration code", &code),
            (".env.example", &example),
            ("docs/configuration.md", &docs),
        ] {
            let missing: Vec<_> = table.difference(names).collect();
            let unknown: Vec<_> = names.difference(&table).collect();
            assert!(
                missing.is_empty() && unknown.is_empty(),
                "{what} disagrees with config::variables::VARIABLES: missing {missing:?}, not in the table {unknown:?}"
            );
        }
    }

    /// The summary table of `docs/configuration.md`, as the code's table says it must read.
    fn summary_table() -> String {
        let mut out =
            String::from("| variable | section | default | secret |\n| --- | --- | --- | --- |\n");
        for v in VARIABLES {
            let default = v.default.map_or("—".to_owned(), |d| format!("`{d}`"));
            let secret = if v.secret { "**secret**" } else { "no" };
            out.push_str(&format!(
                "| `{}` | {:?} | {default} | {secret} |\n",
                v.name, v.section
            ));
        }
        out
    }

    #[test]
    fn the_docs_summary_table_is_the_code_table() {
        let docs = read("docs/configuration.md");
        let (start, end) = ("<!-- variables:start -->\n", "<!-- variables:end -->");
        let from = docs
            .find(start)
            .expect("docs/configuration.md has the summary markers");
        let to = docs.find(end).expect("end marker");
        let shown = &docs[from + start.len()..to];
        assert_eq!(
            shown,
            summary_table(),
            "docs/configuration.md's summary table differs from config::variables::VARIABLES; \
             it should read:\n{}",
            summary_table()
        );
    }

    #[test]
    fn edit_distance_counts_slips_of_the_keyboard() {
        assert_eq!(edit_distance("BROKER_BUKET", "BROKER_BUCKET"), 1);
        assert_eq!(edit_distance("BROKER_BUCKTE", "BROKER_BUCKET"), 1);
        assert_eq!(edit_distance("BROKER_BUCKETS", "BROKER_BUCKET"), 1);
        assert_eq!(edit_distance("BROKER_BUCKET", "BROKER_BUCKET"), 0);
        assert_eq!(edit_distance("", "ABC"), 3);
        assert_eq!(edit_distance("ABC", ""), 3);
    }

    #[test]
    fn unknown_names_of_ours_are_found_with_the_nearest_known_name() {
        let found = unknown([
            "BROKER_BUKET",
            "BROKER_LISTEN",
            "PATH",
            "HOME",
            "STS_BROKER_BIN",
            "ALIBABA_CLOUD_ACESS_KEY_ID",
            "broker_region",
            "BROKER_SOMETHING_ELSE_ENTIRELY",
        ]);
        let names: Vec<&str> = found.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "ALIBABA_CLOUD_ACESS_KEY_ID",
                "BROKER_BUKET",
                "BROKER_SOMETHING_ELSE_ENTIRELY",
                "broker_region"
            ]
        );
        let by_name = |n: &str| found.iter().find(|u| u.name == n).unwrap();
        let buket = by_name("BROKER_BUKET");
        assert_eq!(buket.nearest, "BROKER_BUCKET");
        assert!(buket.likely_meant);
        assert_eq!(
            buket.to_string(),
            "BROKER_BUKET is set, but sts-broker reads no such variable; did you mean BROKER_BUCKET?"
        );
        assert_eq!(
            by_name("ALIBABA_CLOUD_ACESS_KEY_ID").nearest,
            "ALIBABA_CLOUD_ACCESS_KEY_ID"
        );
        let lower = by_name("broker_region");
        assert_eq!(lower.nearest, "BROKER_REGION");
        assert!(lower.to_string().contains("case-sensitive"), "{lower}");
        let far = by_name("BROKER_SOMETHING_ELSE_ENTIRELY");
        assert!(!far.likely_meant);
        assert!(
            far.to_string()
                .contains(&format!("the nearest it reads is {}", far.nearest)),
            "{far}"
        );
    }

    #[test]
    fn every_known_name_is_known() {
        assert_eq!(unknown(VARIABLES.iter().map(|v| v.name)), []);
    }
}
