//! Thumbnail images: decode, scale or cut to a [`ThumbSize`], encode. CPU-bound and
//! synchronous; [`crate::FileStorage::thumbnail`] runs it on a blocking thread.

use std::io::Cursor;

use image::imageops::FilterType;
use image::{DynamicImage, ImageFormat, ImageReader, Limits};
use kb_core::file_name::{ThumbMode, ThumbSize};

use crate::FileError;

/// Largest original (in bytes) a thumbnail is made from; bigger ones are served as they are.
pub const MAX_SOURCE_BYTES: u64 = 64 << 20;
/// Largest decoded image accepted (against decompression bombs).
const MAX_DECODED_BYTES: u64 = 256 << 20;
const MAX_SIDE: u32 = 16_384;

/// The thumbnail of the image in `data`, in the original's format (webp: see below).
pub fn make_thumbnail(data: &[u8], size: ThumbSize) -> Result<Vec<u8>, FileError> {
    let format = image::guess_format(data).map_err(image_error)?;
    if !matches!(
        format,
        ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Gif | ImageFormat::WebP
    ) {
        return Err(FileError::Image(format!("no thumbnails for {format:?}")));
    }
    let mut reader = ImageReader::with_format(Cursor::new(data), format);
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    reader.limits(limits);
    let source = reader.decode().map_err(image_error)?;
    let thumb = resize(&source, size);
    encode(thumb, format)
}

/// The output dimensions and cut of each mode (PocketBase's thumbnails, pixel for pixel in
/// size): covering modes always give exactly `width`×`height`; `Fit` never enlarges.
pub fn resize(source: &DynamicImage, size: ThumbSize) -> DynamicImage {
    let (src_w, src_h) = (source.width().max(1), source.height().max(1));
    let (w, h) = (size.width, size.height);
    let scaled = |numerator: u32, factor: u32, denominator: u32| -> u32 {
        ((numerator as f64 * factor as f64 / denominator as f64).round() as u32).max(1)
    };
    match size.mode {
        ThumbMode::Scale => {
            let (new_w, new_h) = if w == 0 {
                (scaled(src_w, h, src_h), h)
            } else {
                (w, scaled(src_h, w, src_w))
            };
            source.resize_exact(new_w, new_h, FilterType::Triangle)
        }
        ThumbMode::Fit => {
            if src_w <= w && src_h <= h {
                return source.clone();
            }
            let src_aspect = src_w as f64 / src_h as f64;
            let max_aspect = w as f64 / h as f64;
            let (new_w, new_h) = if src_aspect > max_aspect {
                (w, ((w as f64 / src_aspect).round() as u32).max(1))
            } else {
                (((h as f64 * src_aspect).round() as u32).max(1), h)
            };
            source.resize_exact(new_w, new_h, FilterType::Triangle)
        }
        ThumbMode::Center | ThumbMode::Top | ThumbMode::Bottom => {
            // Scale so the image covers the box, then cut the box out of it.
            let covering = if (src_w as f64 / src_h as f64) < (w as f64 / h as f64) {
                source.resize_exact(w, scaled(src_h, w, src_w), FilterType::Triangle)
            } else {
                source.resize_exact(scaled(src_w, h, src_h), h, FilterType::Triangle)
            };
            let (cov_w, cov_h) = (covering.width(), covering.height());
            let x = cov_w.saturating_sub(w) / 2;
            let y = match size.mode {
                ThumbMode::Top => 0,
                ThumbMode::Bottom => cov_h.saturating_sub(h),
                _ => cov_h.saturating_sub(h) / 2,
            };
            covering.crop_imm(x, y, w.min(cov_w), h.min(cov_h))
        }
    }
}

fn encode(image: DynamicImage, format: ImageFormat) -> Result<Vec<u8>, FileError> {
    let mut out = Cursor::new(Vec::new());
    match format {
        ImageFormat::Jpeg => {
            let rgb = DynamicImage::ImageRgb8(image.to_rgb8());
            let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90);
            rgb.write_with_encoder(encoder).map_err(image_error)?;
        }
        ImageFormat::Gif => {
            DynamicImage::ImageRgba8(image.to_rgba8())
                .write_to(&mut out, ImageFormat::Gif)
                .map_err(image_error)?;
        }
        // PocketBase writes webp thumbnails as PNG (its encoder library has no webp
        // writer); the served type is sniffed from the content, so clients see image/png.
        ImageFormat::WebP | ImageFormat::Png => {
            image
                .write_to(&mut out, ImageFormat::Png)
                .map_err(image_error)?;
        }
        other => return Err(FileError::Image(format!("cannot encode {other:?}"))),
    }
    Ok(out.into_inner())
}

fn image_error(error: image::ImageError) -> FileError {
    FileError::Image(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = RgbImage::from_fn(width, height, |x, y| Rgb([x as u8, y as u8, 0]));
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    fn dims(data: &[u8]) -> (u32, u32) {
        let image = image::load_from_memory(data).unwrap();
        (image.width(), image.height())
    }

    #[test]
    fn sizes_match_pocketbase() {
        // A 200×100 original, as probed on PocketBase 0.40.6.
        let source = png(200, 100);
        for (size, expected) in [
            ("50x30", (50, 30)),
            ("50x30t", (50, 30)),
            ("50x30b", (50, 30)),
            ("50x30f", (50, 25)),
            ("0x20", (40, 20)),
            ("20x0", (20, 10)),
            ("100x100", (100, 100)),
            ("400x400f", (200, 100)),
        ] {
            let thumb = make_thumbnail(&source, ThumbSize::parse(size).unwrap()).unwrap();
            assert_eq!(dims(&thumb), expected, "{size}");
        }
    }

    #[test]
    fn crops_keep_the_anchored_part() {
        // A tall image: top rows red, bottom rows blue.
        let image = RgbImage::from_fn(10, 40, |_, y| {
            if y < 20 {
                Rgb([255, 0, 0])
            } else {
                Rgb([0, 0, 255])
            }
        });
        let mut data = Cursor::new(Vec::new());
        image.write_to(&mut data, ImageFormat::Png).unwrap();
        let data = data.into_inner();
        let pixel = |size: &str| {
            let thumb = make_thumbnail(&data, ThumbSize::parse(size).unwrap()).unwrap();
            image::load_from_memory(&thumb)
                .unwrap()
                .to_rgb8()
                .get_pixel(5, 2)
                .0
        };
        assert_eq!(pixel("10x10t"), [255, 0, 0]);
        assert_eq!(pixel("10x10b"), [0, 0, 255]);
    }

    #[test]
    fn formats_round_trip() {
        let source = image::load_from_memory(&png(64, 32)).unwrap();
        for format in [ImageFormat::Jpeg, ImageFormat::Gif, ImageFormat::WebP] {
            let mut data = Cursor::new(Vec::new());
            source.write_to(&mut data, format).unwrap();
            let thumb =
                make_thumbnail(&data.into_inner(), ThumbSize::parse("16x16").unwrap()).unwrap();
            let expected = if format == ImageFormat::WebP {
                ImageFormat::Png
            } else {
                format
            };
            assert_eq!(image::guess_format(&thumb).unwrap(), expected);
            assert_eq!(dims(&thumb), (16, 16));
        }
        assert!(make_thumbnail(b"not an image", ThumbSize::parse("1x1").unwrap()).is_err());
    }
}
