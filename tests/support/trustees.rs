//! Trustees as they work: each on their own machine (here a directory of their own), running
//! the real `securevote trustee …` commands offline, with no setting, database or server. What a
//! command prints is saved in a file there, for the officer to upload (or paste).

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Trustees {
    pub dir: tempfile::TempDir,
    binary: PathBuf,
}

impl Trustees {
    pub fn new(binary: PathBuf) -> Self {
        Trustees {
            dir: tempfile::tempdir().expect("a directory for the trustees"),
            binary,
        }
    }

    /// Trustee `i`'s directory (their machine).
    pub fn home(&self, i: u64) -> PathBuf {
        let home = self.dir.path().join(format!("trustee-{i}"));
        std::fs::create_dir_all(&home).expect("a trustee's directory");
        home
    }

    /// Runs `securevote trustee ARGS` as trustee `i` and saves what it prints in `out`.
    fn run(&self, i: u64, args: &[&str], out: &str) -> PathBuf {
        let home = self.home(i);
        let output = Command::new(&self.binary)
            .env_clear()
            .current_dir(&home)
            .arg("trustee")
            .args(args)
            .output()
            .expect("run securevote trustee");
        assert!(
            output.status.success(),
            "trustee {i}: securevote trustee {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        let path = home.join(out);
        std::fs::write(&path, &output.stdout).expect("save the command's output");
        path
    }

    /// Step 1: a secret (`t{i}.secret`) and the public key to publish (`public-{i}.json`).
    pub fn keygen(&self, election: &str, i: u64, trustees: u64, threshold: u64) -> PathBuf {
        let (i_text, n_text, t_text) = (i.to_string(), trustees.to_string(), threshold.to_string());
        let secret = format!("t{i}.secret");
        self.run(
            i,
            &[
                "keygen",
                "--election",
                election,
                "--index",
                &i_text,
                "--trustees",
                &n_text,
                "--threshold",
                &t_text,
                "--secret",
                &secret,
            ],
            &format!("public-{i}.json"),
        )
    }

    /// Step 2: the encrypted shares for the others (`shares-from-{i}.json`), from `keys`.
    pub fn shares(&self, i: u64, keys: &Path) -> PathBuf {
        let secret = format!("t{i}.secret");
        let keys = keys.display().to_string();
        self.run(
            i,
            &["shares", "--secret", &secret, "--keys", &keys],
            &format!("shares-from-{i}.json"),
        )
    }

    /// Step 3: the key share `t{j}.key` from the shares addressed to trustee `j`.
    pub fn finish(&self, j: u64, keys: &Path, shares: &Path) {
        let secret = format!("t{j}.secret");
        let key_share = format!("t{j}.key");
        let (keys, shares) = (keys.display().to_string(), shares.display().to_string());
        self.run(
            j,
            &[
                "finish",
                "--secret",
                &secret,
                "--keys",
                &keys,
                "--shares",
                &shares,
                "--key-share",
                &key_share,
            ],
            "finish.txt",
        );
        assert!(
            self.home(j).join(&key_share).exists(),
            "trustee {j} keeps a key share"
        );
    }

    /// After the close: trustee `j`'s partial decryption of the record's tally
    /// (`decryption-{j}.json`).
    pub fn decrypt(&self, j: u64, record: &Path) -> PathBuf {
        let key_share = format!("t{j}.key");
        let record = record.display().to_string();
        self.run(
            j,
            &["decrypt", "--key-share", &key_share, "--record", &record],
            &format!("decryption-{j}.json"),
        )
    }
}
