import Logging

/// A log handler whose metadata is a plain stored dictionary: the subscript every
/// `LogHandler` must have, written once for the text and JSON formats.
public protocol MetadataStoringLogHandler: LogHandler {}

extension MetadataStoringLogHandler {
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
}
