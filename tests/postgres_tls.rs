//! TLS to PostgreSQL against real servers with certificates from test authorities: each sslmode
//! accepts what it should and refuses what it should (a wrong authority, a wrong host name, a
//! server without TLS), and the service's own connections are encrypted.

#[path = "support/postgres.rs"]
mod postgres;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use postgres::PgCluster;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

const SECRET: &str = "tls-test-secret-tls-test-secret-tls-0123";

/// A test certificate authority.
fn authority(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// Files a PostgreSQL server and the tests read: the authorities' PEM files, and per server a
/// certificate and key owned by the `postgres` user (the key mode 0600, as PostgreSQL demands).
struct Pki {
    dir: tempfile::TempDir,
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new() -> Self {
        let pki = Self {
            dir: tempfile::tempdir().unwrap(),
            ca: authority("securevote test CA"),
        };
        std::fs::write(pki.path("ca.pem"), pki.ca.pem()).unwrap();
        std::fs::write(pki.path("other-ca.pem"), authority("some other CA").pem()).unwrap();
        pki
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The `-c` settings of a server whose certificate names `names`, signed by the test CA.
    fn server(&self, label: &str, names: &[&str]) -> Vec<String> {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        let cert = params.signed_by(&key, &self.ca).unwrap();
        let (cert_path, key_path) = (
            self.path(&format!("{label}.crt")),
            self.path(&format!("{label}.key")),
        );
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
            std::fs::set_permissions(self.dir.path(), std::fs::Permissions::from_mode(0o755))
                .unwrap();
        }
        for path in [&cert_path, &key_path] {
            let status = Command::new("chown")
                .arg("postgres:postgres")
                .arg(path)
                .status()
                .unwrap();
            assert!(status.success());
        }
        vec![
            "ssl=on".to_owned(),
            format!("ssl_cert_file={}", cert_path.display()),
            format!("ssl_key_file={}", key_path.display()),
        ]
    }
}

fn start(settings: &[String]) -> PgCluster {
    let settings: Vec<&str> = settings.iter().map(String::as_str).collect();
    PgCluster::start_with(&settings)
}

/// `securevote migrate` against `url` with extra settings; it connects, or exits with 2.
fn migrate(url: &str, env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_securevote"))
        .env_clear()
        .env("DATABASE_URL", url)
        .env("DATA_DIR", dir.path())
        .env("DB_CONNECT_TIMEOUT_SECONDS", "3")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .arg("migrate")
        .output()
        .unwrap()
}

fn assert_connects(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Refused at start-up: exit code 2, one line naming DATABASE_URL and containing `reason`.
fn assert_refused(output: &Output, what: &str, reason: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{what}: {stderr}");
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
    assert!(last.contains("DATABASE_URL"), "{what}: {stderr}");
    assert!(
        last.contains(reason),
        "{what}: expected {reason:?} in {last}"
    );
}

fn with_params(url: &str, params: &str) -> String {
    format!("{url}?{params}")
}

fn ca(pki: &Pki, name: &str) -> String {
    pki.path(name).display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_sslmode_accepts_what_it_should_and_refuses_a_wrong_certificate() {
    let pki = Pki::new();
    let right = start(&pki.server("right", &["127.0.0.1", "localhost"]));
    let misnamed = start(&pki.server("misnamed", &["db.example.org"]));
    let plain = PgCluster::start();
    let (ca_file, other_ca) = (ca(&pki, "ca.pem"), ca(&pki, "other-ca.pem"));
    let url = right.url("postgres");

    // verify-full with the right authority, from the URL or from the settings.
    assert_connects(
        &migrate(
            &with_params(&url, &format!("sslmode=verify-full&sslrootcert={ca_file}")),
            &[],
        ),
        "verify-full, sslrootcert in the URL",
    );
    assert_connects(
        &migrate(
            &url,
            &[("DB_SSLMODE", "verify-full"), ("DB_SSLROOTCERT", &ca_file)],
        ),
        "verify-full, DB_SSLMODE and DB_SSLROOTCERT",
    );
    // A certificate from another authority is refused by every verifying mode.
    for mode in ["verify-full", "verify-ca", "require"] {
        assert_refused(
            &migrate(&url, &[("DB_SSLMODE", mode), ("DB_SSLROOTCERT", &other_ca)]),
            &format!("{mode} with another authority"),
            "certificate",
        );
    }
    // require without a root certificate: encrypted, not verified (libpq's meaning).
    assert_connects(
        &migrate(&with_params(&url, "sslmode=require"), &[]),
        "require without a root certificate",
    );
    // The right authority but another host name: verify-ca accepts, verify-full refuses.
    let misnamed_url = misnamed.url("postgres");
    assert_connects(
        &migrate(
            &misnamed_url,
            &[("DB_SSLMODE", "verify-ca"), ("DB_SSLROOTCERT", &ca_file)],
        ),
        "verify-ca, certificate for another name",
    );
    assert_refused(
        &migrate(
            &misnamed_url,
            &[("DB_SSLMODE", "verify-full"), ("DB_SSLROOTCERT", &ca_file)],
        ),
        "verify-full, certificate for another name",
        "certificate",
    );
    // A server without TLS: require refuses it, prefer falls back to plain TCP.
    let plain_url = plain.url("postgres");
    let output = migrate(&with_params(&plain_url, "sslmode=require"), &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "require, no TLS: {stderr}");
    assert_connects(
        &migrate(&with_params(&plain_url, "sslmode=prefer"), &[]),
        "prefer, no TLS",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_connects_to_postgres_over_verified_tls() {
    let pki = Pki::new();
    let server = start(&pki.server("service", &["127.0.0.1"]));
    let database = server.create_database().await;
    let url = with_params(
        &server.url(&database),
        &format!("sslmode=verify-full&sslrootcert={}", ca(&pki, "ca.pem")),
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data_dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_securevote"))
        .env_clear()
        .env("DATABASE_URL", &url)
        .env("JWT_SECRET", SECRET)
        .env("DATA_DIR", data_dir.path())
        .env("PORT", port.to_string())
        .env("BIND_ADDR", "127.0.0.1")
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let health = loop {
        if let Ok(response) = client
            .get(format!("http://127.0.0.1:{port}/health"))
            .send()
            .await
        {
            break response.json::<serde_json::Value>().await.unwrap();
        }
        assert!(Instant::now() < deadline, "the service did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(health["database"], "ok", "{health}");
    let admin = server.connect("postgres").await;
    let rows = admin
        .query(
            "SELECT s.ssl, s.version FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = 'securevote'",
            &[],
        )
        .await
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(!rows.is_empty(), "the service holds connections");
    for row in &rows {
        let (ssl, version): (bool, Option<String>) = (row.get(0), row.get(1));
        assert!(ssl, "every connection of the service is encrypted");
        eprintln!("securevote connection: TLS {}", version.unwrap_or_default());
    }
}
