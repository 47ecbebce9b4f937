//! Readiness for `/readyz`: [`Registry::readiness`], as a status and a JSON body.

use axum::http::StatusCode;

use crate::{Readiness, Registry};

/// 200 when every started plugin is healthy or degraded, else 503; and the
/// [`Readiness`] itself, which lists the started plugins that are not, with their
/// status and message ("not checked yet" for a plugin no health round has judged).
pub(crate) fn readiness(registry: &Registry) -> (StatusCode, Readiness) {
    let readiness = registry.readiness();
    let status = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, readiness)
}
