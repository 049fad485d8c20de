//! `cwmp wire …`: tools for captured CWMP messages.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum WireCommand {
    /// Decode a captured SOAP body (file or `-` for standard input) and print what it holds,
    /// or say exactly where it is invalid.
    Decode {
        file: PathBuf,
        /// Accept strings longer than Annex A allows.
        #[arg(long)]
        lenient_lengths: bool,
    },
}

pub fn run(command: WireCommand) -> anyhow::Result<()> {
    match command {
        WireCommand::Decode { file, lenient_lengths } => decode(&file, lenient_lengths),
    }
}

fn decode(file: &Path, lenient_lengths: bool) -> anyhow::Result<()> {
    let body = if file.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)?;
        buf
    } else {
        std::fs::read(file).with_context(|| format!("reading {}", file.display()))?
    };
    let limits = cwmp_wire::Limits { enforce_string_lengths: !lenient_lengths, ..Default::default() };
    let envelopes = cwmp_wire::decode_all(&body, &limits).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    for envelope in envelopes {
        println!("version {} ({})", envelope.detected_version(), envelope.namespace.uri());
        println!("{:#?}", envelope.header);
        println!("{:#?}", envelope.message);
    }
    Ok(())
}
