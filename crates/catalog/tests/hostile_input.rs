//! The catalog's file decoders meet arbitrary and damaged input: they must
//! return a document or an error, never panic, and every entry they accept
//! must pass back through the encoder unchanged.

use flowline_catalog::{DemoLayout, Document, Format, demo_field};
use proptest::prelude::*;

fn decode_and_check(text: &str, format: Format) -> Result<(), TestCaseError> {
    if let Ok(document) = Document::parse(text, format) {
        let again = Document::parse(&document.render(format), format).unwrap();
        let specs = |document: &Document| {
            let assets: Vec<_> = document
                .assets
                .iter()
                .map(|entry| entry.spec.clone())
                .collect();
            let tags: Vec<_> = document
                .tags
                .iter()
                .map(|entry| entry.spec.clone())
                .collect();
            (assets, tags)
        };
        prop_assert_eq!(specs(&again), specs(&document));
        prop_assert!(again.errors.is_empty());
    }
    Ok(())
}

fn damaged(original: &str, flips: &[(usize, u8)]) -> String {
    let mut bytes = original.as_bytes().to_vec();
    for (position, byte) in flips {
        let index = position % bytes.len();
        bytes[index] = *byte;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

proptest! {
    #[test]
    fn the_csv_decoder_survives_arbitrary_text(text in "\\PC{0,400}") {
        decode_and_check(&text, Format::Csv)?;
    }

    #[test]
    fn the_yaml_decoder_survives_arbitrary_text(text in "\\PC{0,400}") {
        decode_and_check(&text, Format::Yaml)?;
    }

    #[test]
    fn damaged_exports_are_read_or_rejected(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..12),
        yaml in any::<bool>(),
    ) {
        let format = if yaml { Format::Yaml } else { Format::Csv };
        let original = demo_field(DemoLayout { pads: 1, wells_per_pad: 2 }).render(format);
        decode_and_check(&damaged(&original, &flips), format)?;
    }
}
