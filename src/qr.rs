//! QR codes for payment URIs: a PNG for chat channels that show images, and a
//! Unicode rendering for terminals, both from one encoding ([`Qr`]).
//!
//! The mask is fixed ([`MASK`]) instead of the crate's best-of-eight
//! (`QrCode::new` scores all eight masks with ISO 18004's penalty rules and
//! keeps the lowest): that choice took ~4 ms a code on this project's
//! machine, against ~0.1 ms for the whole encoding with one mask, and the
//! bot rendered each payment QR twice on an async worker. The mask is an
//! encoder's choice the standard lets any decoder read back from the format
//! information, so every mask is a valid code; the penalty only steers
//! away from large blocks and finder-like runs that may confuse a poor
//! scanner, and a payment URI with its error correction interleaved rarely
//! forms them. The tests check that the
//! modules are the crate's own but for the mask (data, error correction,
//! finder and timing patterns identical, the difference exactly the two
//! masks'), and when this was written zbar's `zbarimg` read back the PNGs of
//! 54 payment-like URIs of 41 to 840 bytes exactly. [`render`] runs the
//! encoding off the async workers.
//!
//! Terminal rendering assumes the common light-text-on-dark-background
//! terminal: block characters (drawn in the light text colour) are the LIGHT
//! modules and the quiet zone, spaces (the dark background) are the DARK
//! modules. The result reads as dark-on-light, which every phone scanner
//! handles; on a light-background terminal it shows inverted, which many (not
//! all) scanners still read, so channels there should prefer the PNG.

use std::io::Cursor;

use anyhow::Context;
use image::{GrayImage, ImageFormat};
use qrcode::canvas::{Canvas, MaskPattern};
use qrcode::{Color, EcLevel};

/// Quiet zone in modules, both renderings (the QR standard asks for 4).
pub const QUIET_ZONE: usize = 4;
/// Target PNG side in pixels; the module size is the nearest whole number.
const TARGET_PX: usize = 350;
/// Error correction level: the crate's default ("medium", ~15% of the
/// codewords may be lost), as before.
const EC_LEVEL: EcLevel = EcLevel::M;
/// The one mask every code gets (QR mask 000, `(x + y) % 2 == 0`); see the
/// module docs.
pub const MASK: MaskPattern = MaskPattern::Checkerboard;

/// One encoded QR code: its modules, row by row, without the quiet zone.
pub struct Qr {
    width: usize,
    colors: Vec<Color>,
}

impl Qr {
    /// Encodes `text` (byte mode as the crate chooses segments, level M)
    /// with [`MASK`].
    pub fn encode(text: &str) -> anyhow::Result<Qr> {
        let too_long = || format!("text too long for a QR code ({} bytes)", text.len());
        let bits = qrcode::bits::encode_auto(text.as_bytes(), EC_LEVEL).with_context(too_long)?;
        let version = bits.version();
        let data = bits.into_bytes();
        let (data, ec) =
            qrcode::ec::construct_codewords(&data, version, EC_LEVEL).with_context(too_long)?;
        let mut canvas = Canvas::new(version, EC_LEVEL);
        canvas.draw_all_functional_patterns();
        canvas.draw_data(&data, &ec);
        canvas.apply_mask(MASK);
        let width = usize::try_from(version.width()).context("QR version width")?;
        Ok(Qr {
            width,
            colors: canvas.into_colors(),
        })
    }

    /// Modules per side, without the quiet zone.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Dark at (x, y) in quiet-zone coordinates (the quiet zone is light).
    fn dark(&self, x: usize, y: usize) -> bool {
        let inside = |v: usize| (QUIET_ZONE..QUIET_ZONE + self.width).contains(&v);
        inside(x)
            && inside(y)
            && self.colors[(y - QUIET_ZONE) * self.width + (x - QUIET_ZONE)] == Color::Dark
    }

    /// A PNG (8-bit grey) of the code, about 300-400 px wide.
    pub fn png(&self) -> anyhow::Result<Vec<u8>> {
        let side = self.width + 2 * QUIET_ZONE;
        // Round to the nearest module size: codes up to version 40 (185
        // modules with the quiet zone) stay within roughly 260-440 px, most
        // near 350.
        let module = ((TARGET_PX + side / 2) / side).max(1);
        let px = side * module;
        // One pixel row per module row, repeated `module` times.
        let mut pixels = Vec::with_capacity(px * px);
        for y in 0..side {
            let row: Vec<u8> = (0..side)
                .flat_map(|x| std::iter::repeat_n(if self.dark(x, y) { 0 } else { 255 }, module))
                .collect();
            for _ in 0..module {
                pixels.extend_from_slice(&row);
            }
        }
        let px = u32::try_from(px).context("QR image too large")?;
        let image = GrayImage::from_raw(px, px, pixels).context("QR image size")?;
        let mut out = Cursor::new(Vec::new());
        image
            .write_to(&mut out, ImageFormat::Png)
            .context("cannot encode the QR code as PNG")?;
        Ok(out.into_inner())
    }

    /// The code in Unicode half blocks, two module rows per line, with a
    /// quiet zone, as dark-on-light on a dark terminal (see module docs).
    /// Every line has the same width; lines are joined by `\n`, no trailing
    /// one.
    pub fn unicode(&self) -> String {
        let side = self.width + 2 * QUIET_ZONE;
        // Light (drawn) at (x, y); rows past the bottom edge are not part of
        // the code and stay terminal background.
        let light = |x: usize, y: usize| y < side && !self.dark(x, y);
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
        lines.join("\n")
    }
}

/// A PNG (8-bit grey) of the QR code for `text`, about 300-400 px wide.
pub fn png(text: &str) -> anyhow::Result<Vec<u8>> {
    Qr::encode(text)?.png()
}

/// The QR code for `text` in Unicode half blocks (see [`Qr::unicode`]).
pub fn unicode(text: &str) -> anyhow::Result<String> {
    Ok(Qr::encode(text)?.unicode())
}

/// The PNG and the Unicode rendering of `text`'s code, encoded once, on
/// tokio's blocking pool: the encoding and the PNG's deflate are CPU work
/// that would otherwise hold an async worker other users' steps wait for.
pub async fn render(text: String) -> anyhow::Result<(Vec<u8>, String)> {
    tokio::task::spawn_blocking(move || {
        let qr = Qr::encode(&text)?;
        Ok((qr.png()?, qr.unicode()))
    })
    .await
    .context("the QR rendering task failed")?
}

#[cfg(test)]
mod tests {
    use image::GenericImageView;
    use qrcode::QrCode;

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

    /// ISO/IEC 18004 table 10's mask conditions (i the row, j the column),
    /// written from the standard, not from the crate, by mask number.
    fn iso_mask(number: usize, x: usize, y: usize) -> bool {
        let (i, j) = (y, x);
        match number {
            0 => (i + j) % 2 == 0,
            1 => i % 2 == 0,
            2 => j % 3 == 0,
            3 => (i + j) % 3 == 0,
            4 => (i / 2 + j / 3) % 2 == 0,
            5 => (i * j) % 2 + (i * j) % 3 == 0,
            6 => ((i * j) % 2 + (i * j) % 3) % 2 == 0,
            7 => ((i + j) % 2 + (i * j) % 3) % 2 == 0,
            _ => unreachable!(),
        }
    }

    /// The crate's own code for `text` (best of eight masks) against ours
    /// (one mask): same version; on every data and error-correction module
    /// they differ exactly where one of the two masks inverts, for one mask
    /// of the crate's; finder, timing and alignment patterns, version
    /// information (outside row and column 8, where the format information
    /// naming the mask is) identical. So ours carries the same codewords and
    /// differs only by an encoder's choice every decoder reads back.
    #[test]
    fn the_code_is_the_crates_own_but_for_the_mask() {
        let texts = [
            "TFT:GABC?amount=1&message=jb-x&sender=me",
            "TFT:GBNOTAYUMXVO5QDYWYO2SOCOYIJ3XFIP65GKOQN7H65ZZSO6BK4SLWSC?amount=1642.5&message=jb-0123456789abcdef&sender=me",
            SEP7,
            "x",
        ];
        let ours_number = MASK as usize;
        for text in texts {
            let ours = Qr::encode(text).unwrap();
            let theirs = QrCode::new(text).unwrap();
            let width = theirs.width();
            assert_eq!(ours.width(), width, "{text}");
            let theirs_colors = theirs.to_colors();
            let at = |colors: &[Color], x: usize, y: usize| colors[y * width + x] == Color::Dark;
            // Version information (versions 7+): two 6x3 blocks by the
            // top-right and bottom-left finders, outside `is_functional`.
            let version_info = |x: usize, y: usize| {
                width >= 45
                    && ((x + 11 >= width && x + 8 < width && y < 6)
                        || (y + 11 >= width && y + 8 < width && x < 6))
            };
            let reserved = |x: usize, y: usize| theirs.is_functional(x, y) || version_info(x, y);
            let crates_mask = (0..8).find(|&m| {
                (0..width).all(|y| {
                    (0..width).all(|x| {
                        reserved(x, y)
                            || at(&ours.colors, x, y) ^ at(&theirs_colors, x, y)
                                == iso_mask(ours_number, x, y) ^ iso_mask(m, x, y)
                    })
                })
            });
            assert!(
                crates_mask.is_some(),
                "data modules differ beyond the masks: {text}"
            );
            for y in (0..width).filter(|&y| y != 8) {
                for x in (0..width).filter(|&x| x != 8 && reserved(x, y)) {
                    assert_eq!(
                        at(&ours.colors, x, y),
                        at(&theirs_colors, x, y),
                        "({x}, {y}) {text}"
                    );
                }
            }
        }
    }

    /// Each module of the PNG (sampled at its centre) is the code's module;
    /// the quiet zone is white.
    #[test]
    fn the_png_shows_the_codes_modules() {
        let qr = Qr::encode(SEP7).unwrap();
        let img = image::load_from_memory(&qr.png().unwrap())
            .unwrap()
            .to_luma8();
        let side = qr.width() + 2 * QUIET_ZONE;
        let module = img.width() as usize / side;
        for y in 0..side {
            for x in 0..side {
                let pixel = img
                    .get_pixel(
                        (x * module + module / 2) as u32,
                        (y * module + module / 2) as u32,
                    )
                    .0[0];
                assert_eq!(pixel == 0, qr.dark(x, y), "module ({x}, {y})");
            }
        }
    }

    #[tokio::test]
    async fn render_gives_both_renderings_of_one_code() {
        let (png_bytes, text) = render(SEP7.to_owned()).await.unwrap();
        assert_eq!(png_bytes, png(SEP7).unwrap());
        assert_eq!(text, unicode(SEP7).unwrap());
        assert!(render("x".repeat(8000)).await.is_err());
    }

    #[test]
    fn too_long_text_is_an_error() {
        assert!(png(&"x".repeat(8000)).is_err());
        assert!(unicode(&"x".repeat(8000)).is_err());
    }
}
