//! Who may fetch or put a file on the CWMP port (TR-069 3.4.3, A.3.2.8, A.4.1.5).
//!
//! Anyone who can reach the port may read a file whose FileType is common to a fleet
//! (firmware, web content, tones, ringers): its URL is `…/files/<name>`. A file that may hold
//! one device's secrets (a vendor configuration file, a vendor-specific or unknown type, or
//! something a CPE uploaded) and every Upload target are reached only through a URL carrying
//! a transfer token: `…/files/<name>?token=<token>` and `…/upload/<token>`.
//!
//! A token is `<task id>.<MAC>`: HMAC-SHA256 over the purpose, the task and its device, under
//! a key derived from the server secret that every node shares, cut to 128 bits. It needs no
//! storage, and the file service honours it only while its task is open (the RPC went out
//! and no TransferComplete closed it), so it dies with the task.

use hmac::{KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = hmac::Hmac<Sha256>;

/// MAC bytes a token carries (128 bits).
const MAC_LEN: usize = 16;

/// Download FileTypes (A.3.2.8 Table 33) whose files are the same for every device that
/// takes them, so their URLs need no token. Anything else, including vendor (`X …`) types,
/// may be specific to a device and is served only with a token.
const PUBLIC_FILE_TYPES: &[&str] =
    &["1 Firmware Upgrade Image", "2 Web Content", "4 Tone File", "5 Ringer File", "6 Stored Firmware Image"];

/// Names under which the file service keeps what CPEs uploaded; never public.
pub const UPLOAD_PREFIX: &str = "upload/";

/// Whether a stored file may be served to anyone at its plain URL.
pub fn is_public(name: &str, file_type: &str) -> bool {
    !name.starts_with(UPLOAD_PREFIX) && PUBLIC_FILE_TYPES.contains(&file_type)
}

/// What a token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// GET the file of a Download or ScheduleDownload task.
    Download,
    /// PUT the file of an Upload task.
    Upload,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::Download => b"download",
            Purpose::Upload => b"upload",
        }
    }
}

/// A token as parsed from a URL, not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferToken {
    pub task_id: i64,
    mac: [u8; MAC_LEN],
}

impl TransferToken {
    pub fn parse(text: &str) -> Option<TransferToken> {
        let (id, mac) = text.split_once('.')?;
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut bytes = [0u8; MAC_LEN];
        hex::decode_to_slice(mac, &mut bytes).ok()?;
        Some(TransferToken { task_id: id.parse().ok()?, mac: bytes })
    }
}

/// The key that signs transfer tokens.
#[derive(Clone)]
pub struct TransferKey([u8; 32]);

impl std::fmt::Debug for TransferKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TransferKey(..)")
    }
}

impl TransferKey {
    /// The key for transfer tokens, derived from the server secret (which also signs Digest
    /// nonces) so that neither use can stand in for the other.
    pub fn derive(secret: &[u8]) -> TransferKey {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(b"cwmp-acs transfer token key v1");
        TransferKey(mac.finalize().into_bytes().into())
    }

    /// A key of its own, for a node whose tokens no other node needs to read.
    pub fn random() -> TransferKey {
        use rand::RngExt as _;
        TransferKey(rand::rng().random())
    }

    fn mac(&self, purpose: Purpose, task_id: i64, device_key: &str) -> HmacSha256 {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.0).expect("HMAC takes any key length");
        // Length-prefixed fields: no two inputs share an encoding.
        for field in [purpose.label(), &task_id.to_be_bytes(), device_key.as_bytes()] {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field);
        }
        mac
    }

    /// The token for `purpose` on task `task_id` of device `device_key`.
    pub fn token(&self, purpose: Purpose, task_id: i64, device_key: &str) -> String {
        let mac = self.mac(purpose, task_id, device_key).finalize().into_bytes();
        format!("{task_id}.{}", hex::encode(&mac[..MAC_LEN]))
    }

    /// Whether `token` was made for `purpose` on its task of device `device_key`; compared in
    /// constant time.
    pub fn verify(&self, purpose: Purpose, token: &TransferToken, device_key: &str) -> bool {
        self.mac(purpose, token.task_id, device_key).verify_truncated_left(&token.mac).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_only_for_its_purpose_task_device_and_key() {
        let key = TransferKey::derive(b"node secret");
        let text = key.token(Purpose::Upload, 42, "00D09E-Box-S1");
        assert_eq!(text.len(), "42.".len() + 2 * MAC_LEN);
        let token = TransferToken::parse(&text).unwrap();
        assert_eq!(token.task_id, 42);
        assert!(key.verify(Purpose::Upload, &token, "00D09E-Box-S1"));
        assert!(!key.verify(Purpose::Download, &token, "00D09E-Box-S1"));
        assert!(!key.verify(Purpose::Upload, &token, "00D09E-Box-S2"));
        assert!(!TransferKey::derive(b"other secret").verify(Purpose::Upload, &token, "00D09E-Box-S1"));
        let moved = TransferToken { task_id: 43, ..token.clone() };
        assert!(!key.verify(Purpose::Upload, &moved, "00D09E-Box-S1"));
        // The same inputs give the same token on every node that shares the secret.
        assert_eq!(TransferKey::derive(b"node secret").token(Purpose::Upload, 42, "00D09E-Box-S1"), text);
    }

    #[test]
    fn malformed_tokens_are_refused_at_parse() {
        for bad in [
            "",
            "42",
            "42.",
            ".00",
            "x.00112233445566778899aabbccddeeff",
            "42.0011",
            "-1.00112233445566778899aabbccddeeff",
        ] {
            assert_eq!(TransferToken::parse(bad), None, "{bad:?}");
        }
        assert_eq!(TransferToken::parse("99999999999999999999.00112233445566778899aabbccddeeff"), None);
    }

    #[test]
    fn only_fleet_wide_download_types_are_public() {
        assert!(is_public("fw/v2.bin", "1 Firmware Upgrade Image"));
        assert!(is_public("tones.bin", "4 Tone File"));
        for private in ["3 Vendor Configuration File", "X 00D09E Config", "1 Vendor Configuration File", "upload", ""] {
            assert!(!is_public("file", private), "{private}");
        }
        assert!(!is_public("upload/00D09E-Box-S1/task-3", "1 Firmware Upgrade Image"));
    }
}
