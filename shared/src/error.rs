//! Business rejections as values: every variant maps to one stable error code on the wire.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    #[error("{0}")]
    InvalidEmail(&'static str),
    #[error("{0}")]
    InvalidPhone(&'static str),
    #[error("{0}")]
    InvalidSku(&'static str),
    #[error("invalid date {0:?}: expected YYYY-MM-DD")]
    InvalidDate(String),
    #[error("the ETA's earliest date is after its latest date")]
    EtaRange,
    #[error("{0}")]
    InvalidField(String),
}

impl DomainError {
    /// The stable machine-readable code sent as `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            DomainError::InvalidEmail(_) => "invalid_email",
            DomainError::InvalidPhone(_) => "invalid_phone",
            DomainError::InvalidSku(_) => "invalid_sku",
            DomainError::InvalidDate(_) => "invalid_date",
            DomainError::EtaRange => "invalid_eta",
            DomainError::InvalidField(_) => "invalid_field",
        }
    }
}
