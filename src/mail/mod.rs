//! Invitation and reminder messages: templates filled in with the election's details and the
//! voter's link (pure), and the sender that takes them from the outbox to the SMTP server.
//!
//! A template is a plain-text file whose first line is `Subject: ...`, and an HTML file; both
//! may use `{{title}}`, `{{name}}`, `{{opens_at}}`, `{{closes_at}}` (in the election's time
//! zone) and `{{link}}`. Values are HTML-escaped in the HTML part. The built-in templates are
//! deploy/mail/*; `MAIL_TEMPLATES_DIR` names a directory with replacements.

pub mod sender;

use std::path::Path;

use chrono::{DateTime, Utc};

use crate::store::{ClaimedMail, MailKind};

const INVITATION_TXT: &str = include_str!("../../deploy/mail/invitation.txt");
const INVITATION_HTML: &str = include_str!("../../deploy/mail/invitation.html");
const REMINDER_TXT: &str = include_str!("../../deploy/mail/reminder.txt");
const REMINDER_HTML: &str = include_str!("../../deploy/mail/reminder.html");

/// A kind's two templates.
#[derive(Debug, Clone)]
pub struct Template {
    pub text: String,
    pub html: String,
}

#[derive(Debug, Clone)]
pub struct Templates {
    pub invitation: Template,
    pub reminder: Template,
}

/// A message ready to hand to the SMTP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Templates {
    /// The built-in templates, each replaced by the file of the same name in `dir` if present.
    pub fn load(dir: Option<&Path>) -> std::io::Result<Self> {
        let read = |name: &str, built_in: &str| -> std::io::Result<String> {
            match dir.map(|d| d.join(name)).filter(|p| p.is_file()) {
                Some(path) => std::fs::read_to_string(path),
                None => Ok(built_in.to_owned()),
            }
        };
        Ok(Self {
            invitation: Template {
                text: read("invitation.txt", INVITATION_TXT)?,
                html: read("invitation.html", INVITATION_HTML)?,
            },
            reminder: Template {
                text: read("reminder.txt", REMINDER_TXT)?,
                html: read("reminder.html", REMINDER_HTML)?,
            },
        })
    }

    /// The message for `mail` with `link`.
    pub fn render(&self, mail: &ClaimedMail, link: &str) -> Rendered {
        let template = match mail.kind {
            MailKind::Invitation => &self.invitation,
            MailKind::Reminder => &self.reminder,
        };
        let zone: Option<chrono_tz::Tz> = mail.timezone.parse().ok();
        let when = |at: Option<DateTime<Utc>>| match (at, zone) {
            (Some(at), Some(zone)) => at
                .with_timezone(&zone)
                .format("%A %e %B %Y, %H:%M %Z")
                .to_string()
                .replace("  ", " "),
            (Some(at), None) => at.format("%Y-%m-%d %H:%M UTC").to_string(),
            (None, _) => "when the returning officer opens or closes it".to_owned(),
        };
        let values = [
            ("title", mail.election_title.clone()),
            (
                "name",
                mail.name.clone().unwrap_or_else(|| mail.email.clone()),
            ),
            ("opens_at", when(mail.opens_at)),
            ("closes_at", when(mail.closes_at)),
            ("link", link.to_owned()),
        ];
        let fill = |text: &str, escape: bool| {
            values.iter().fold(text.to_owned(), |out, (key, value)| {
                let value = if escape {
                    html_escape(value)
                } else {
                    value.clone()
                };
                out.replace(&format!("{{{{{key}}}}}"), &value)
            })
        };
        let text = fill(&template.text, false);
        let (subject, body) = match text.split_once('\n') {
            Some((first, rest)) if first.starts_with("Subject:") => (
                first.trim_start_matches("Subject:").trim().to_owned(),
                rest.trim_start_matches('\n').to_owned(),
            ),
            _ => (mail.election_title.clone(), text.clone()),
        };
        Rendered {
            subject,
            text: body,
            html: fill(&template.html, true),
        }
    }
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The sign-in link of a token: the web UI reads the token from the fragment, which browsers
/// never send to a server (so it stays out of access logs).
pub fn link(public_url: &str, token: &str) -> String {
    format!("{public_url}/#/magic/{token}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn mail(kind: MailKind) -> ClaimedMail {
        ClaimedMail {
            id: Uuid::new_v4(),
            kind,
            attempts: 1,
            email: "ada@example.org".into(),
            name: Some("Ada <Lovelace>".into()),
            election_id: Uuid::new_v4(),
            election_title: "Senate & Board".into(),
            timezone: "Europe/Berlin".into(),
            opens_at: Some("2030-03-01T08:00:00Z".parse().unwrap()),
            closes_at: None,
        }
    }

    #[test]
    fn messages_carry_the_title_times_in_the_zone_and_the_link() {
        let templates = Templates::load(None).unwrap();
        let link = link("https://vote.example.org", "TOKEN");
        let rendered = templates.render(&mail(MailKind::Invitation), &link);
        assert_eq!(rendered.subject, "Your ballot: Senate & Board");
        assert!(
            rendered.text.contains("Friday 1 March 2030, 09:00 CET"),
            "{}",
            rendered.text
        );
        assert!(
            rendered
                .text
                .contains("https://vote.example.org/#/magic/TOKEN")
        );
        assert!(rendered.text.contains("Hello Ada <Lovelace>"));
        assert!(rendered.html.contains("Senate &amp; Board"));
        assert!(rendered.html.contains("Ada &lt;Lovelace&gt;"));
        assert!(!rendered.text.contains("{{"), "every placeholder filled");
        let reminder = templates.render(&mail(MailKind::Reminder), &link);
        assert!(reminder.subject.starts_with("Reminder"));
    }

    #[test]
    fn an_operator_s_directory_replaces_a_template() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("invitation.txt"),
            "Subject: Vote {{title}}\n\nGo: {{link}}\n",
        )
        .unwrap();
        let templates = Templates::load(Some(dir.path())).unwrap();
        let rendered = templates.render(&mail(MailKind::Invitation), "L");
        assert_eq!(rendered.subject, "Vote Senate & Board");
        assert_eq!(rendered.text, "Go: L\n");
        assert!(
            rendered.html.contains("<a href=\"L\">"),
            "the HTML stays built in"
        );
    }
}
