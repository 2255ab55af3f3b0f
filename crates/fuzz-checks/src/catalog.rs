//! Catalog documents: the CSV and YAML files `flowline catalog import`
//! reads and `flowline catalog export` writes.

use flowline_catalog::{Document, Format};

use crate::text;

/// Any text read as a catalog CSV file; see [`document`].
pub fn csv(data: &[u8]) {
    document(&text(data), Format::Csv);
}

/// Any text read as a catalog YAML file; see [`document`].
pub fn yaml(data: &[u8]) {
    document(&text(data), Format::Yaml);
}

/// A file reads to a document or to an error; every entry that cannot be
/// read names its line; and what is read renders as a file of the same
/// format that reads back to the same entries without errors.
fn document(text: &str, format: Format) {
    let document = match Document::parse(text, format) {
        Ok(document) => document,
        Err(error) => {
            assert!(!error.message.is_empty(), "{format:?}: {error:?}");
            return;
        }
    };
    for error in &document.errors {
        assert!(error.line.is_some_and(|line| line >= 1), "{error:?}");
        assert!(!error.message.is_empty(), "{error:?}");
    }

    let rendered = document.render(format);
    let again = Document::parse(&rendered, format)
        .unwrap_or_else(|error| panic!("{format:?} rendering is refused: {error}\n{rendered}"));
    assert!(
        again.errors.is_empty(),
        "{format:?} rendering has bad entries: {:?}\n{rendered}",
        again.errors
    );
    // Compared as printed, so that a not-a-number limit equals itself.
    assert_eq!(
        format!("{:?}", specs(&again)),
        format!("{:?}", specs(&document)),
        "{format:?} rendering reads back differently:\n{rendered}"
    );
}

/// The specs of a document's entries, without the lines they came from.
fn specs(
    document: &Document,
) -> (
    Vec<&flowline_catalog::AssetSpec>,
    Vec<&flowline_catalog::TagSpec>,
) {
    (
        document.assets.iter().map(|entry| &entry.spec).collect(),
        document.tags.iter().map(|entry| &entry.spec).collect(),
    )
}
