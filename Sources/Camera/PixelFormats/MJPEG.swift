import Imaging

extension PixelConversion {
    /// One Motion-JPEG frame (V4L2 `MJPG`/`JPEG`, ROS CompressedImage `jpeg`) to RGB through libjpeg-turbo.
    ///
    /// Accepts what cameras send: frames without Huffman tables (libjpeg-turbo falls back to the standard
    /// tables) and bytes after EOI (mmap buffers padded past the frame). Truncated or corrupt frames throw.
    public static func mjpegToRGB(_ src: UnsafeRawBufferPointer) throws -> RGBImage {
        try ImageCodec.decodeJPEG(Array(src))
    }

    public static func mjpegToRGB(_ src: [UInt8]) throws -> RGBImage {
        try ImageCodec.decodeJPEG(src)
    }
}
