//! `flowline catalog …`: import, export, list and history from the command
//! line, against the database the configuration names.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use flowline_catalog::{
    AssetFilter, Catalog, CatalogError, Document, Format, HistoryFilter, ImportMode, TagFilter,
};
use flowline_core::{AssetKind, Criticality, NodePath, Unit};
use flowline_edge::opcua::{BrowseOptions, NodeAddress, browse};

use crate::config::Config;
use crate::open_catalog;

/// The catalog subcommands.
#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Create and update assets and tags from a CSV or YAML file.
    ///
    /// New paths are created, changed ones updated, identical ones left
    /// alone. By default any bad row rejects the whole file and every
    /// problem is listed with its line.
    Import {
        /// The file to read.
        file: PathBuf,
        /// The file's format; by default its extension (.csv, .yaml, .yml).
        #[arg(long, value_enum)]
        format: Option<FileFormat>,
        /// Apply the good rows and report the bad ones instead of rejecting
        /// the whole file.
        #[arg(long)]
        skip_invalid: bool,
        /// Who the history names for these changes (default: cli:$USER).
        #[arg(long)]
        actor: Option<String>,
    },
    /// Browse an OPC UA server of [[gateway.opcua]] and import what it holds.
    ///
    /// Objects become assets and variables become tags bound to their
    /// nodes, with units and ranges from the server's properties. Without
    /// --import the result is printed as YAML for review (and editing,
    /// then `catalog import`); with --import it is applied as an import
    /// would be.
    Browse {
        /// The server's `name` in [[gateway.opcua]].
        endpoint: String,
        /// Start from this object, such as `ns=2;s=North`, instead of the
        /// Objects folder; it becomes the field.
        #[arg(long, value_name = "NODE")]
        root: Option<String>,
        /// Most objects and variables to visit.
        #[arg(long, default_value_t = BrowseOptions::default().max_nodes)]
        max_nodes: usize,
        /// Apply the result to the catalog instead of printing it.
        #[arg(long)]
        import: bool,
        /// With --import: apply the good entries and report the bad ones.
        #[arg(long)]
        skip_invalid: bool,
        /// Who the history names for these changes (default: cli:$USER).
        #[arg(long)]
        actor: Option<String>,
    },
    /// Write every asset and tag as CSV or YAML.
    Export {
        /// Output format.
        #[arg(long, value_enum, default_value = "yaml")]
        format: FileFormat,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// List tags, or assets, that pass filters.
    List(ListArgs),
    /// Show the versioned history of changes, oldest first.
    History {
        /// Only changes at or below this path.
        #[arg(long)]
        within: Option<NodePath>,
        /// Only changes after this version.
        #[arg(long)]
        after: Option<u64>,
        /// At most this many changes.
        #[arg(long)]
        limit: Option<u32>,
    },
}

/// Filters for `flowline catalog list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// List assets instead of tags.
    #[arg(long)]
    assets: bool,
    /// Only entries at or below this path.
    #[arg(long)]
    within: Option<NodePath>,
    /// Only tags in this unit, such as bar or °C.
    #[arg(long)]
    unit: Option<Unit>,
    /// Only tags of this criticality.
    #[arg(long)]
    criticality: Option<Criticality>,
    /// Only assets of this kind, such as well or esp.
    #[arg(long)]
    kind: Option<AssetKind>,
    /// Only entries whose path or description contains this text.
    #[arg(long)]
    text: Option<String>,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

/// A catalog file format, for the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FileFormat {
    /// Comma-separated values.
    Csv,
    /// YAML.
    Yaml,
}

impl From<FileFormat> for Format {
    fn from(format: FileFormat) -> Format {
        match format {
            FileFormat::Csv => Format::Csv,
            FileFormat::Yaml => Format::Yaml,
        }
    }
}

/// Runs one catalog subcommand.
pub async fn run(config: &Config, command: CatalogCommand) -> anyhow::Result<()> {
    let catalog = open_catalog(config).await?;
    let outcome = match command {
        CatalogCommand::Import {
            file,
            format,
            skip_invalid,
            actor,
        } => {
            let actor = actor.unwrap_or_else(default_actor);
            let format = format.map(Format::from);
            import(&catalog, &file, format, mode(skip_invalid), &actor).await
        }
        CatalogCommand::Browse {
            endpoint,
            root,
            max_nodes,
            import,
            skip_invalid,
            actor,
        } => {
            let options = BrowseCommand {
                endpoint,
                root,
                max_nodes,
                import: import.then(|| (mode(skip_invalid), actor.unwrap_or_else(default_actor))),
            };
            browse_server(config, &catalog, options).await
        }
        CatalogCommand::Export { format, output } => {
            export(&catalog, format.into(), output.as_deref()).await
        }
        CatalogCommand::List(args) => list(&catalog, args).await,
        CatalogCommand::History {
            within,
            after,
            limit,
        } => {
            history(
                &catalog,
                HistoryFilter {
                    within,
                    after_version: after,
                    limit,
                    ..Default::default()
                },
            )
            .await
        }
    };
    catalog.database().close().await;
    outcome
}

/// `cli:` and the login name, for the history.
fn default_actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned())
    )
}

/// All or nothing, or the good entries with `--skip-invalid`.
fn mode(skip_invalid: bool) -> ImportMode {
    if skip_invalid {
        ImportMode::SkipInvalid
    } else {
        ImportMode::AllOrNothing
    }
}

/// Reads a catalog file in `format`, or the format its name says.
fn read_document(file: &Path, format: Option<Format>) -> anyhow::Result<Document> {
    let name = file.display().to_string();
    let format = match format.or_else(|| Format::from_file_name(&name)) {
        Some(format) => format,
        None => bail!(
            "{name}: cannot tell the format from the file name; use --format csv or --format yaml"
        ),
    };
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {name}"))?;
    Document::parse(&text, format).map_err(|error| match error.line {
        Some(line) => anyhow::anyhow!("{name}:{line}: {}", error.message),
        None => anyhow::anyhow!("{name}: {}", error.message),
    })
}

/// Imports a catalog file.
async fn import(
    catalog: &Catalog,
    file: &Path,
    format: Option<Format>,
    mode: ImportMode,
    actor: &str,
) -> anyhow::Result<()> {
    let document = read_document(file, format)?;
    apply(catalog, &document, &file.display().to_string(), mode, actor).await
}

/// What `flowline catalog browse` was asked.
struct BrowseCommand {
    /// The server's name in `[[gateway.opcua]]`.
    endpoint: String,
    /// The object to start from, as a node id.
    root: Option<String>,
    /// Most nodes to visit.
    max_nodes: usize,
    /// How to import the result, and as whom; `None` prints it.
    import: Option<(ImportMode, String)>,
}

/// Browses a configured OPC UA server and prints or imports what it holds.
async fn browse_server(
    config: &Config,
    catalog: &Catalog,
    command: BrowseCommand,
) -> anyhow::Result<()> {
    let Some(endpoint) = config
        .gateway
        .opcua
        .iter()
        .find(|endpoint| endpoint.name == command.endpoint)
    else {
        let known: Vec<&str> = config
            .gateway
            .opcua
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        bail!(
            "no OPC UA endpoint `{}` in gateway.opcua; configured: {}",
            command.endpoint,
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        );
    };
    let root = match &command.root {
        Some(text) => Some(
            text.parse::<NodeAddress>()
                .map_err(|error| anyhow::anyhow!("--root: {error}"))?,
        ),
        None => None,
    };
    let options = BrowseOptions {
        root,
        max_nodes: command.max_nodes,
        ..BrowseOptions::default()
    };
    let report = browse(endpoint, &options)
        .await
        .with_context(|| format!("cannot browse {} ({})", endpoint.name, endpoint.url))?;
    for warning in &report.warnings {
        eprintln!("{}: {warning}", endpoint.name);
    }
    eprintln!(
        "{}: {} nodes visited, {} assets and {} tags found",
        endpoint.name,
        report.nodes,
        report.document.assets.len(),
        report.document.tags.len()
    );
    match command.import {
        Some((mode, actor)) => apply(catalog, &report.document, &endpoint.name, mode, &actor).await,
        None => {
            let text = report.document.render(Format::Yaml);
            Ok(std::io::stdout().lock().write_all(text.as_bytes())?)
        }
    }
}

/// Imports `document`, read from `name`, and prints what changed.
async fn apply(
    catalog: &Catalog,
    document: &Document,
    name: &str,
    mode: ImportMode,
    actor: &str,
) -> anyhow::Result<()> {
    let report = match catalog.import(document, mode, actor).await {
        Ok(report) => report,
        Err(CatalogError::Rejected(rows)) => {
            for row in &rows {
                eprintln!("{}", located(name, row));
            }
            bail!(
                "{name}: import rejected, nothing applied: {} problems in {} entries; \
                 fix them or use --skip-invalid",
                rows.len(),
                document.len()
            );
        }
        Err(error) => return Err(error.into()),
    };
    for row in &report.rejected {
        eprintln!("{}", located(name, row));
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{name}: assets {} created, {} updated, {} unchanged; \
         tags {} created, {} updated, {} unchanged; \
         {} rejected; catalog version {}",
        report.assets.created,
        report.assets.updated,
        report.assets.unchanged,
        report.tags.created,
        report.tags.updated,
        report.tags.unchanged,
        report.rejected.len(),
        report.version
    )?;
    Ok(())
}

/// `FILE:LINE: PATH: problem`, as compilers and editors expect.
fn located(file: &str, row: &flowline_catalog::RowError) -> String {
    let mut text = file.to_owned();
    if let Some(line) = row.line {
        text.push_str(&format!(":{line}"));
    }
    text.push_str(": ");
    if let Some(path) = &row.path {
        text.push_str(path);
        text.push_str(": ");
    }
    text.push_str(&row.message);
    text
}

async fn export(catalog: &Catalog, format: Format, output: Option<&Path>) -> anyhow::Result<()> {
    let text = catalog.export().await?.render(format);
    match output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(())
}

async fn list(catalog: &Catalog, args: ListArgs) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if args.assets {
        let filter = AssetFilter {
            within: args.within,
            kind: args.kind,
            text: args.text,
            ..Default::default()
        };
        let assets = catalog.assets(&filter).await?;
        let header = ["ID", "PATH", "KIND", "DESCRIPTION"];
        return print(&mut out, &assets, args.json, &header, |asset| {
            vec![
                asset.id.to_string(),
                asset.spec.path.to_string(),
                asset.spec.kind.to_string(),
                asset.spec.description.clone(),
            ]
        });
    }

    let filter = TagFilter {
        within: args.within,
        unit: args.unit,
        criticality: args.criticality,
        text: args.text,
        ..Default::default()
    };
    let tags = catalog.tags(&filter).await?;
    let header = [
        "ID",
        "PATH",
        "UNIT",
        "TYPE",
        "VALID",
        "CRITICALITY",
        "SOURCE",
    ];
    print(&mut out, &tags, args.json, &header, |tag| {
        let spec = &tag.spec;
        let bound = |value: Option<f64>| value.map(|value| value.to_string()).unwrap_or_default();
        let range = if spec.valid_range.is_unbounded() {
            String::new()
        } else {
            format!(
                "{}..{}",
                bound(spec.valid_range.lo),
                bound(spec.valid_range.hi)
            )
        };
        let source = spec.source.as_ref();
        vec![
            tag.id.to_string(),
            spec.path.to_string(),
            spec.unit.map(|unit| unit.to_string()).unwrap_or_default(),
            spec.data_type.to_string(),
            range,
            spec.criticality.to_string(),
            source
                .map(|source| format!("{} {}", source.protocol, source.address))
                .unwrap_or_default(),
        ]
    })
}

/// Writes `items` as JSON lines, or as a table of `row`s under `header`.
fn print<T: serde::Serialize>(
    out: &mut impl Write,
    items: &[T],
    json: bool,
    header: &[&str],
    row: impl Fn(&T) -> Vec<String>,
) -> anyhow::Result<()> {
    if json {
        for item in items {
            writeln!(out, "{}", serde_json::to_string(item)?)?;
        }
        return Ok(());
    }
    table(out, header, items.iter().map(row))
}

async fn history(catalog: &Catalog, filter: HistoryFilter) -> anyhow::Result<()> {
    let changes = catalog.history(&filter).await?;
    let rows = changes.iter().map(|change| {
        vec![
            change.version.to_string(),
            change.at.to_string(),
            change.actor.clone(),
            change.operation.to_string(),
            change.entity.to_string(),
            change.path.to_string(),
            change.fields.join(","),
        ]
    });
    table(
        &mut std::io::stdout().lock(),
        &[
            "VERSION",
            "AT",
            "ACTOR",
            "OPERATION",
            "ENTITY",
            "PATH",
            "FIELDS",
        ],
        rows,
    )
}

/// Writes rows under a header, each column as wide as its widest cell.
fn table(
    out: &mut impl Write,
    header: &[&str],
    rows: impl Iterator<Item = Vec<String>>,
) -> anyhow::Result<()> {
    let rows: Vec<Vec<String>> = rows.collect();
    let mut widths: Vec<usize> = header.iter().map(|name| name.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let header: Vec<String> = header.iter().map(|name| (*name).to_owned()).collect();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        writeln!(out, "{}", cells.join("  ").trim_end())?;
    }
    Ok(())
}
