use super::*;

/// The configuration from these command-line arguments, the environment left out; a bad value
/// is reported as the binary reports it.
fn config(args: &[&str]) -> Result<Config, ConfigError> {
    let named = Settings::augment_args(Command::new("securevote"));
    let matches = without_env::<Settings>()
        .try_get_matches_from(std::iter::once("securevote").chain(args.iter().copied()))
        .map_err(|e| ConfigError::from_clap(&e, &named).unwrap_or_else(|| panic!("{e}")))?;
    Config::from_settings(&Settings::from_arg_matches(&matches).unwrap())
}

const SECRET_32: &str = "--jwt-secret=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

#[test]
fn no_database_settings_means_embedded_sqlite_in_data_dir() {
    let config = config(&["--data-dir", "/tmp/sv"]).unwrap();
    assert!(
        matches!(config.database, DatabaseConfig::Sqlite { ref path } if path == std::path::Path::new("/tmp/sv/securevote.db"))
    );
    assert_eq!(config.listen.port(), 3000);
    assert_eq!(config.signing_secret().unwrap().map(|_| ()), None);
}

#[test]
fn defaults_match_the_parsed_defaults() {
    let settings = Settings::default();
    assert_eq!(settings.port, 3000);
    assert_eq!(settings.db_pool_size, 16);
    assert_eq!(settings.data_dir, PathBuf::from("./data"));
    assert_eq!(settings.log_format, LogFormat::Text);
    let security = SecurityConfig::default();
    assert!(security.trusted_proxies.is_empty());
    assert!(security.cors_allowed_origins.is_empty());
    assert_eq!(security.request_timeout(), Duration::from_secs(15));
    assert_eq!(security.max_body_bytes, 16 * 1024);
    assert_eq!(security.login_max_failures, 10);
    assert_eq!(
        security.argon2_max_queued(),
        security.argon2_max_concurrent() * 32
    );
}

#[test]
fn original_env_file_is_accepted_and_hosts_are_listed_in_order() {
    let config = config(&[
        "--db-host=pg1, pg2:5433",
        "--db-port=5432",
        "--db-user=vote",
        "--db-password=hunter2-very-secret",
        "--db-name=votes",
        SECRET_32,
    ])
    .unwrap();
    let DatabaseConfig::Postgres(pg) = &config.database else {
        panic!("expected PostgreSQL")
    };
    assert_eq!(pg.hosts_display(), "pg1:5432,pg2:5433");
    assert_eq!(pg.connect.get_dbname(), Some("votes"));
    assert!(config.signing_secret().unwrap().is_some());
    assert!(!format!("{config:?}").contains("hunter2"));
    assert!(!format!("{config:?}").contains("xxxx"));
}

#[test]
fn database_url_wins_and_supports_several_hosts() {
    let config = config(&[
        "--database-url=postgres://u:topsecret@a:5432,b:5433/db",
        "--db-host=ignored",
    ])
    .unwrap();
    let DatabaseConfig::Postgres(pg) = &config.database else {
        panic!("expected PostgreSQL")
    };
    assert_eq!(pg.hosts_display(), "a:5432,b:5433");
    assert!(!format!("{config:?}").contains("topsecret"));
}

#[test]
fn only_signing_tokens_needs_the_jwt_secret() {
    let missing = config(&["--database-url=postgres://u:pw@h/db"]).unwrap();
    let short = config(&[
        "--database-url=postgres://u:pw@h/db",
        "--jwt-secret=short-secret",
    ])
    .unwrap();

    for config in [missing, short] {
        let err = config.signing_secret().expect_err("JWT_SECRET");
        assert_eq!(err.setting, "JWT_SECRET", "{err}");
        assert!(!err.to_string().contains("short-secret"), "{err}");
    }
}

#[test]
fn proxies_and_origins_are_parsed() {
    let config = config(&[
        "--trusted-proxies=10.0.0.10, 192.168.1.7/24,::1",
        "--cors-allowed-origins=https://Vote.example.org, http://localhost:8080",
    ])
    .unwrap();
    let nets: Vec<String> = config
        .security
        .trusted_proxies
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(nets, ["10.0.0.10/32", "192.168.1.0/24", "::1/128"]);
    assert_eq!(
        config.security.cors_allowed_origins,
        ["https://vote.example.org", "http://localhost:8080"]
    );
}

#[test]
fn bad_settings_name_the_setting_and_hide_secrets() {
    let cases: &[(&[&str], &str)] = &[
        (&["--port=http"], "PORT"),
        (&["--port=70000"], "PORT"),
        (&["--db-port=0", "--db-host=h", SECRET_32], "DB_PORT"),
        (&["--bind-addr=nowhere"], "BIND_ADDR"),
        (&["--log-format=xml"], "LOG_FORMAT"),
        (&["--database-url=mysql://u:pw@h/db"], "DATABASE_URL"),
        (&["--database-url=not a url"], "DATABASE_URL"),
        (
            &["--database-url=postgres://u:pw@h:notaport/db"],
            "DATABASE_URL",
        ),
        (
            &["--database-url=postgres://u:pw@h/db?sslmode=verify-full"],
            "DB_SSLROOTCERT",
        ),
        (
            &["--database-url=postgres://u:pw@h/db?sslmode=always"],
            "DATABASE_URL",
        ),
        (&["--db-sslmode=strict"], "DB_SSLMODE"),
        (
            &["--db-host=h", "--db-sslrootcert=/nowhere/ca.pem", SECRET_32],
            "DB_SSLROOTCERT",
        ),
        (&["--db-host=h:port", SECRET_32], "DB_HOST"),
        (&["--jwt-ttl-seconds=0"], "JWT_TTL_SECONDS"),
        (&["--db-pool-size=0"], "DB_POOL_SIZE"),
        (&["--metrics-addr=9100"], "METRICS_ADDR"),
        (&["--bench-ceiling-route=true"], "BENCH_CEILING_ROUTE"),
        (
            &["--bench-ceiling-route=sometimes", "--bind-addr=127.0.0.1"],
            "BENCH_CEILING_ROUTE",
        ),
        (&["--trusted-proxies=nginx.local"], "TRUSTED_PROXIES"),
        (&["--cors-allowed-origins=*"], "CORS_ALLOWED_ORIGINS"),
        (
            &["--cors-allowed-origins=https://vote.example.org/app"],
            "CORS_ALLOWED_ORIGINS",
        ),
        (&["--request-timeout-seconds=0"], "REQUEST_TIMEOUT_SECONDS"),
        (&["--max-header-bytes=100"], "MAX_HEADER_BYTES"),
        (&["--argon2-max-concurrent=0"], "ARGON2_MAX_CONCURRENT"),
        (&["--login-limit-per-ip=-1"], "LOGIN_LIMIT_PER_IP"),
        (
            &["--header-read-timeout-seconds=0"],
            "HEADER_READ_TIMEOUT_SECONDS",
        ),
        (&["--idle-timeout-seconds=soon"], "IDLE_TIMEOUT_SECONDS"),
        (&["--max-connections-per-ip=-3"], "MAX_CONNECTIONS_PER_IP"),
        (
            &[
                "--login-lockout-seconds=600",
                "--login-lockout-max-seconds=60",
            ],
            "LOGIN_LOCKOUT_MAX_SECONDS",
        ),
    ];
    for (args, expected) in cases {
        let err = config(args).expect_err(expected);
        assert_eq!(err.setting, *expected, "{err}");
        let line = err.to_string();
        assert!(!line.contains("pw@"), "leaked a secret: {line}");
        assert!(!line.contains('\n'));
    }
}
