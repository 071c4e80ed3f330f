//! The ES256 key that signs ID tokens, and its public JWK Set. The private key is generated
//! once per data dir (PKCS#8) and kept in storage, so ID tokens stay verifiable across restarts.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde::Serialize;

/// An ES256 signing key with its key id.
pub struct SigningKey {
    kid: String,
    encoding: jsonwebtoken::EncodingKey,
    x: String,
    y: String,
}

impl SigningKey {
    /// A fresh P-256 private key, PKCS#8 DER.
    pub fn generate_pkcs8() -> Result<Vec<u8>, String> {
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .map(|doc| doc.as_ref().to_vec())
            .map_err(|_| "could not generate an ID-token signing key".to_owned())
    }

    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, String> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &SystemRandom::new())
            .map_err(|_| "the stored ID-token signing key is not a P-256 PKCS#8 key".to_owned())?;
        // Uncompressed point: 0x04 || x (32 bytes) || y (32 bytes).
        let public = pair.public_key().as_ref();
        if public.len() != 65 {
            return Err("unexpected P-256 public key length".into());
        }
        let x = URL_SAFE_NO_PAD.encode(&public[1..33]);
        let y = URL_SAFE_NO_PAD.encode(&public[33..65]);
        let kid = crate::ids::sha256_b64(public)[..16].to_owned();
        Ok(SigningKey {
            kid,
            encoding: jsonwebtoken::EncodingKey::from_ec_der(pkcs8),
            x,
            y,
        })
    }

    /// Signs `claims` as a compact JWS with `alg: ES256` and this key's `kid`.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, String> {
        let header = jsonwebtoken::Header {
            kid: Some(self.kid.clone()),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256)
        };
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(|e| e.to_string())
    }

    /// The public key as a JWK Set (RFC 7517).
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({
            "keys": [{
                "kty": "EC",
                "crv": "P-256",
                "use": "sig",
                "alg": "ES256",
                "kid": self.kid,
                "x": self.x,
                "y": self.y,
            }]
        })
    }
}
