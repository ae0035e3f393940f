//! File downloads: CSV tables built in memory and sent with their content type.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// A `text/csv` answer: `head`, then one record per row.
pub(super) fn csv_response<R, F>(
    head: &[&str],
    rows: impl IntoIterator<Item = R>,
) -> Result<Response, ApiError>
where
    R: IntoIterator<Item = F>,
    F: AsRef<[u8]>,
{
    let internal = |e: csv::Error| ApiError::Internal(e.into());
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(head).map_err(internal)?;
    for row in rows {
        writer.write_record(row).map_err(internal)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("{e}")))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        )],
        bytes,
    )
        .into_response())
}
