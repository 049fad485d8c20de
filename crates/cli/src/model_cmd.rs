//! `cwmp model …`: data-model tools.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use cwmp_model::facts::FactFile;

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Import a Broadband Forum data-model XML file (TR-181, TR-098, a vendor model) or a
    /// device's CSV parameter dump into fact files.
    Import {
        /// The BBF XML (`.xml`) or CSV dump (`.csv`). Files the XML imports are looked up
        /// beside it; missing TR-106 types and TR-181/TR-098 base models come built in.
        input: PathBuf,
        /// A `.jsonl` file (when the input defines one model), or a directory that gets one
        /// `<model>.jsonl` per model.
        #[arg(short, long, default_value = "models")]
        output: PathBuf,
    },
    /// Summarise a fact file: model, objects, tables, parameters.
    Info {
        /// A fact file (`.jsonl`).
        file: PathBuf,
    },
}

pub fn run(cmd: ModelCommand) -> anyhow::Result<()> {
    match cmd {
        ModelCommand::Import { input, output } => import(&input, &output),
        ModelCommand::Info { file } => info(&file),
    }
}

fn import(input: &Path, output: &Path) -> anyhow::Result<()> {
    let is_csv = input.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let files = if is_csv {
        let reference = cwmp_model::tr098();
        let fixture = cwmp_model::import::fixture::load(input, Some(&reference))
            .with_context(|| format!("reading {}", input.display()))?;
        vec![fixture.facts]
    } else {
        cwmp_model::import::import_file(input)?
    };
    let single_file = output.extension().is_some_and(|e| e == "jsonl");
    if single_file && files.len() != 1 {
        bail!("{} defines {} models; give a directory as output", input.display(), files.len());
    }
    for file in &files {
        let target = if single_file {
            output.to_owned()
        } else {
            std::fs::create_dir_all(output).with_context(|| format!("creating {}", output.display()))?;
            output.join(format!("{}.jsonl", file_stem(&file.info.model)))
        };
        cwmp_model::persist::write_atomically(&target, file.to_text().as_bytes())
            .with_context(|| format!("writing {}", target.display()))?;
        let (objects, params) = file.counts();
        println!("{}: {} ({objects} objects, {params} parameters)", target.display(), file.info.model);
    }
    Ok(())
}

fn info(path: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file = FactFile::parse(&text).with_context(|| format!("parsing {}", path.display()))?;
    let (objects, params) = file.counts();
    let tables = file.objects.iter().filter(|o| o.is_multi()).count();
    let writable = file.objects.iter().flat_map(|o| &o.parameters).filter(|p| p.access != Default::default()).count();
    println!("model {} (from {})", file.info.model, if file.info.source.is_empty() { "?" } else { &file.info.source });
    println!("{objects} objects ({tables} tables), {params} parameters ({writable} writable)");
    cwmp_model::Schema::from_facts(file).with_context(|| format!("{} is not a consistent model", path.display()))?;
    Ok(())
}

/// `Device:2.17` → `device-2.17`.
fn file_stem(model: &str) -> String {
    model
        .chars()
        .map(
            |c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' { c.to_ascii_lowercase() } else { '-' }
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_make_file_names() {
        assert_eq!(file_stem("Device:2.17"), "device-2.17");
        assert_eq!(file_stem("X_ACME_Box:1.0"), "x_acme_box-1.0");
        assert_eq!(file_stem("a/b c"), "a-b-c");
    }
}
