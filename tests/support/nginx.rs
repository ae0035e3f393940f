//! A private NGINX master process running the project's own configuration
//! (`deploy/nginx/render-conf`, with its snippets) for backends on loopback, in a scratch
//! directory: what tests/nginx.rs and the fault drills put in front of the service.

#![allow(dead_code)] // each test crate that includes this file uses part of it

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::postgres::free_port;

/// The first of the usual system directories that holds `tool`.
pub fn which(tool: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(tool))
        .find(|path| path.exists())
}

pub struct Nginx {
    pub port: u16,
    child: Option<Child>,
}

impl Nginx {
    /// Renders the configuration for `backends` (`host:port`) in `work/nginx`, plain HTTP on a
    /// free loopback port in app mode (the TLS block gets a throwaway certificate), with `env`
    /// added to render-conf's environment; checks it with `nginx -t`, starts NGINX and returns
    /// once it listens. A missing NGINX fails the test.
    pub fn start(backends: &[String], work: &Path, env: &[(&str, OsString)]) -> Self {
        let nginx = which("nginx").unwrap_or_else(|| {
            panic!("nginx not found (install nginx-light; ./scripts/test does)")
        });
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = work.join("nginx");
        for sub in [
            "tmp/body",
            "tmp/proxy",
            "tmp/fastcgi",
            "tmp/uwsgi",
            "tmp/scgi",
            "logs",
        ] {
            std::fs::create_dir_all(dir.join(sub)).expect("nginx directories");
        }
        let port = free_port();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let openssl = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
            .args(["-subj", "/CN=localhost", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl");
        assert!(
            openssl.success(),
            "openssl could not make a test certificate"
        );
        let rendered = Command::new(repo.join("deploy/nginx/render-conf"))
            .env("BACKENDS", backends.join(" "))
            .env("HTTP_LISTEN", format!("127.0.0.1:{port}"))
            .env("HTTPS_LISTEN", format!("127.0.0.1:{}", free_port()))
            .env("HTTP_MODE", "app")
            .env("SERVER_NAME", "localhost")
            .env("WEB_ROOT", repo.join("web"))
            .env("TLS_CERT", &cert)
            .env("TLS_KEY", &key)
            .env("ACCESS_LOG", dir.join("logs/access.log"))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("render-conf");
        assert!(
            rendered.status.success(),
            "render-conf: {}",
            String::from_utf8_lossy(&rendered.stderr)
        );
        std::fs::write(dir.join("securevote.conf"), &rendered.stdout)
            .expect("write securevote.conf");
        let snippets = dir.join("snippets");
        if !snippets.exists() {
            std::os::unix::fs::symlink(repo.join("deploy/nginx/snippets"), &snippets)
                .expect("link the snippets");
        }
        let d = dir.display();
        let main_conf = format!(
            "worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/logs/error.log warn;\ndaemon off;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  include /etc/nginx/mime.types;\n  default_type application/octet-stream;\n\
             client_body_temp_path {d}/tmp/body;\n  proxy_temp_path {d}/tmp/proxy;\n  fastcgi_temp_path {d}/tmp/fastcgi;\n\
             uwsgi_temp_path {d}/tmp/uwsgi;\n  scgi_temp_path {d}/tmp/scgi;\n  include {d}/securevote.conf;\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), main_conf).expect("write nginx.conf");
        let nginx_with_conf = || {
            let mut command = Command::new(&nginx);
            command
                .arg("-p")
                .arg(&dir)
                .arg("-c")
                .arg(dir.join("nginx.conf"));
            command
        };
        let check = nginx_with_conf().arg("-t").output().expect("nginx -t");
        assert!(
            check.status.success(),
            "nginx -t failed: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        let child = nginx_with_conf()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let nginx = Self {
            port,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not start listening");
            std::thread::sleep(Duration::from_millis(50));
        }
        nginx
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The master process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGQUIT: graceful stop of master and workers.
            let _ = Command::new("kill")
                .args(["-QUIT", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
