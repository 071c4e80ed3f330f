//! Value encoding: postcard (compact, serde-based). Keys are built by hand in `keys`.

use super::{Result, StorageError};

pub fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    postcard::to_stdvec(value).map_err(|e| StorageError::Codec(e.to_string()))
}

pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|e| StorageError::Codec(e.to_string()))
}
