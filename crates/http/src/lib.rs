//! `cwmp-http`: the HTTP-level pieces of TR-069 (Issue 1 Amendment 6, section 3.4 and
//! Annex G) that the ACS, the CPE agent and the simulator share.
//!
//! Sans-IO: no sockets, no runtime, no clock and no random source inside. Time is passed
//! in as Unix seconds and randomness as bytes or strings, so every function is
//! deterministic and testable.
//!
//! * [`digest`]: Digest authentication, server (stateless nonces, verification, replay
//!   guard) and client (nonce count, MD5/MD5-sess/SHA-256).
//! * [`basic`]: Basic authentication.
//! * [`auth`]: reading whole `WWW-Authenticate` / `Authorization` headers and choosing a
//!   scheme; the TR-069 3.4.4 CPE username (`OUI-ProductClass-SerialNumber`).
//! * [`cookies`]: the lenient `Cookie` reader for the ACS and the session cookie jar for
//!   the CPE.
//! * [`compression`]: `Content-Encoding` gzip/deflate/identity with a cap on output size.
//! * [`connreq`]: the UDP Connection Request of Annex G, built and verified.

pub mod auth;
pub mod basic;
pub mod compression;
pub mod connreq;
pub mod cookies;
pub mod digest;
mod hex;
mod params;
