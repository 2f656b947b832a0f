//! QR codes for payment URIs: a PNG for chat channels that show images, and a
//! Unicode rendering for terminals.
//!
//! Terminal rendering assumes the common light-text-on-dark-background
//! terminal: block characters (drawn in the light text colour) are the LIGHT
//! modules and the quiet zone, spaces (the dark background) are the DARK
//! modules. The result reads as dark-on-light, which every phone scanner
//! handles; on a light-background terminal it shows inverted, which many (not
//! all) scanners still read, so channels there should prefer the PNG.

use std::io::Cursor;

use anyhow::Context;
use image::{DynamicImage, ImageFormat, Luma};
use qrcode::{Color, QrCode};

/// Quiet zone in modules, both renderings (the QR standard asks for 4).
pub const QUIET_ZONE: usize = 4;
/// Target PNG side in pixels; the module size is the nearest whole number.
const TARGET_PX: usize = 350;

/// A PNG (8-bit grey) of the QR code for `text`, about 300-400 px wide.
pub fn png(text: &str) -> anyhow::Result<Vec<u8>> {
    let code = QrCode::new(text.as_bytes()).context("text too long for a QR code")?;
    let side = code.width() + 2 * QUIET_ZONE;
    // Round to the nearest module size: codes up to version 40 (185 modules
    // with the quiet zone) stay within roughly 260-440 px, most near 350.
    let module = u32::try_from(((TARGET_PX + side / 2) / side).max(1)).unwrap_or(1);
    let image = code
        .render::<Luma<u8>>()
        .quiet_zone(true)
        .module_dimensions(module, module)
        .build();
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageLuma8(image)
        .write_to(&mut out, ImageFormat::Png)
        .context("cannot encode the QR code as PNG")?;
    Ok(out.into_inner())
}

/// The QR code for `text` in Unicode half blocks, two module rows per line,
/// with a quiet zone, as dark-on-light on a dark terminal (see module docs).
/// Every line has the same width; lines are joined by `\n`, no trailing one.
pub fn unicode(text: &str) -> anyhow::Result<String> {
    let code = QrCode::new(text.as_bytes()).context("text too long for a QR code")?;
    let width = code.width();
    let colors = code.to_colors();
    let side = width + 2 * QUIET_ZONE;
    // Light (drawn) at (x, y) in quiet-zone coordinates; rows past the bottom
    // edge are not part of the code and stay terminal background.
    let light = |x: usize, y: usize| -> bool {
        if y >= side {
            return false;
        }
        let inside = |v: usize| (QUIET_ZONE..QUIET_ZONE + width).contains(&v);
        if !inside(x) || !inside(y) {
            return true;
        }
        let index = (y - QUIET_ZONE) * width + (x - QUIET_ZONE);
        colors.get(index).is_some_and(|c| *c == Color::Light)
    };
    let mut lines = Vec::with_capacity(side.div_ceil(2));
    for y in (0..side).step_by(2) {
        let line: String = (0..side)
            .map(|x| match (light(x, y), light(x, y + 1)) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            })
            .collect();
        lines.push(line);
    }
    Ok(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use image::GenericImageView;

    use super::*;

    const SEP7: &str = "web+stellar:pay?destination=GBNOTAYUMXVO5QDYWYO2SOCOYIJ3XFIP65GKOQN7H65ZZSO6BK4SLWSC\
        &amount=1642.5&asset_code=TFT\
        &asset_issuer=GBOVQKJYHXRR3DX6NOX2RRYFRCUMSADGDESTDNBDS6CDVLGVESRTAC47\
        &memo=jb-0123456789abcdef&memo_type=MEMO_TEXT&msg=order%20ord-1a2b";

    #[test]
    fn png_is_a_decodable_square_of_sensible_size() {
        for text in ["TFT:GABC?amount=1&message=jb-x&sender=me", SEP7] {
            let bytes = png(text).unwrap();
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
            let img = image::load_from_memory(&bytes).unwrap();
            let (w, h) = img.dimensions();
            assert_eq!(w, h);
            assert!((250..=450).contains(&w), "{w}");
            let side = QrCode::new(text).unwrap().width() + 2 * QUIET_ZONE;
            assert_eq!(w as usize % side, 0, "whole modules");
            // The quiet zone corner is white, the finder pattern corner black.
            let module = w as usize / side;
            let luma = img.to_luma8();
            assert_eq!(luma.get_pixel(0, 0).0[0], 255);
            let finder = (QUIET_ZONE * module) as u32;
            assert_eq!(luma.get_pixel(finder, finder).0[0], 0);
        }
    }

    #[test]
    fn unicode_shape_and_colours() {
        let code = QrCode::new(SEP7).unwrap();
        let side = code.width() + 2 * QUIET_ZONE;
        let text = unicode(SEP7).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), side.div_ceil(2));
        assert!(lines.iter().all(|l| l.chars().count() == side));
        assert!(
            text.chars()
                .all(|c| matches!(c, '█' | '▀' | '▄' | ' ' | '\n'))
        );
        // Quiet zone is fully drawn (light); the finder's dark corner is a gap.
        assert!(lines[0].chars().all(|c| c == '█'));
        assert_eq!(lines[QUIET_ZONE / 2].chars().nth(QUIET_ZONE), Some(' '));
        // The odd last module row sits on the top half of the last line.
        assert!(lines[lines.len() - 1].chars().all(|c| c == '▀'));
    }

    #[test]
    fn too_long_text_is_an_error() {
        assert!(png(&"x".repeat(8000)).is_err());
        assert!(unicode(&"x".repeat(8000)).is_err());
    }
}
