//! Mail settings: where invitations are sent from and through, and the links they carry.

use std::path::PathBuf;

use super::ConfigError;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct MailSettings {
    /// SMTP server for invitations: `smtp://host:25` (plain), `smtp://host:587?tls=required`
    /// (STARTTLS), `smtps://host:465` (TLS); `user:password@` before the host to authenticate.
    /// Unset: invitations are queued and wait until it is set.
    #[arg(long, env = "SMTP_URL", global = true, hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Sender of invitations, e.g. `Returning Officer <elections@example.org>`.
    #[arg(long, env = "MAIL_FROM", global = true)]
    pub mail_from: Option<String>,
    /// Public base URL of the service, the start of every sign-in link (`https://vote.example.org`).
    #[arg(long, env = "PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// Most messages sent per second by one instance (0: no limit).
    #[arg(long, env = "SMTP_MAX_PER_SECOND", global = true, default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub smtp_max_per_second: u32,
    /// Directory with the message templates (invitation.txt, invitation.html, reminder.txt,
    /// reminder.html) to use instead of the built-in ones in deploy/mail/.
    #[arg(long, env = "MAIL_TEMPLATES_DIR", global = true)]
    pub mail_templates_dir: Option<PathBuf>,
}

/// Validated mail settings; `smtp_url` is `None` when no mail is to be sent.
#[derive(Debug, Clone)]
pub struct MailConfig {
    pub smtp_url: Option<String>,
    pub mail_from: lettre::message::Mailbox,
    pub public_url: String,
    pub max_per_second: u32,
    pub templates_dir: Option<PathBuf>,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            smtp_url: None,
            mail_from: "securevote <securevote@localhost>"
                .parse()
                .expect("a constant, valid mailbox"),
            public_url: "http://localhost:3000".into(),
            max_per_second: 0,
            templates_dir: None,
        }
    }
}

impl MailConfig {
    pub fn from_settings(settings: &MailSettings) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let smtp_url = settings
            .smtp_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty());
        if let Some(url) = smtp_url {
            lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url).map_err(|e| {
                ConfigError::new("SMTP_URL", format!("not an smtp:// or smtps:// URL: {e}"))
            })?;
        }
        let mail_from = match settings
            .mail_from
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
        {
            Some(raw) => raw.parse().map_err(|e| {
                ConfigError::new(
                    "MAIL_FROM",
                    format!(
                        "{raw:?} is not a mailbox such as Elections <elections@example.org>: {e}"
                    ),
                )
            })?,
            None if smtp_url.is_some() => {
                return Err(ConfigError::new("MAIL_FROM", "is required with SMTP_URL"));
            }
            None => defaults.mail_from,
        };
        let public_url = match settings
            .public_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        {
            Some(raw) if raw.starts_with("http://") || raw.starts_with("https://") => {
                raw.trim_end_matches('/').to_owned()
            }
            Some(raw) => {
                return Err(ConfigError::new(
                    "PUBLIC_URL",
                    format!("{raw:?} must start with https:// or http://"),
                ));
            }
            None if smtp_url.is_some() => {
                return Err(ConfigError::new(
                    "PUBLIC_URL",
                    "is required with SMTP_URL (the start of every sign-in link)",
                ));
            }
            None => defaults.public_url,
        };
        if let Some(dir) = &settings.mail_templates_dir
            && !dir.is_dir()
        {
            return Err(ConfigError::new(
                "MAIL_TEMPLATES_DIR",
                format!("{} is not a directory", dir.display()),
            ));
        }
        Ok(Self {
            smtp_url: smtp_url.map(str::to_owned),
            mail_from,
            public_url,
            max_per_second: settings.smtp_max_per_second,
            templates_dir: settings.mail_templates_dir.clone(),
        })
    }
}
