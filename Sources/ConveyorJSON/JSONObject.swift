/// A JSON object that keeps its fields in order. Lookups are linear: job payloads have
/// a dozen fields, where a scan beats hashing.
public struct JSONObject: Sendable, Hashable, Sequence {
    public struct Field: Sendable, Hashable {
        public var key: String
        public var value: JSONValue

        public init(key: String, value: JSONValue) {
            self.key = key
            self.value = value
        }
    }

    public private(set) var fields: [Field]

    public init() { fields = [] }
    public init(fields: [Field]) { self.fields = fields }

    public var count: Int { fields.count }
    public var isEmpty: Bool { fields.isEmpty }
    public var keys: [String] { fields.map(\.key) }

    /// Reading gives the last value of a key (as Ruby and JavaScript do with duplicates);
    /// writing replaces it in place, or appends a new field; writing nil removes it.
    public subscript(key: String) -> JSONValue? {
        get {
            var i = fields.count - 1
            while i >= 0 {
                if fields[i].key == key { return fields[i].value }
                i -= 1
            }
            return nil
        }
        set {
            if let index = fields.lastIndex(where: { $0.key == key }) {
                if let newValue {
                    fields[index].value = newValue
                } else {
                    fields.removeAll { $0.key == key }
                }
            } else if let newValue {
                fields.append(Field(key: key, value: newValue))
            }
        }
    }

    public mutating func removeValue(forKey key: String) -> JSONValue? {
        let old = self[key]
        self[key] = nil
        return old
    }

    /// Appends without checking for an existing key; the parser uses it.
    mutating func appendUnchecked(_ key: String, _ value: JSONValue) {
        fields.append(Field(key: key, value: value))
    }

    public func makeIterator() -> some IteratorProtocol<(key: String, value: JSONValue)> {
        fields.lazy.map { (key: $0.key, value: $0.value) }.makeIterator()
    }
}
