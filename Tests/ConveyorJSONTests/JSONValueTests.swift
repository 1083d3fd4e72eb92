import ConveyorJSON
import Testing

@Suite("JSON values")
struct JSONValueTests {
    @Test("a Sidekiq payload round-trips with key order, float timestamps and unknown fields intact")
    func sidekiqPayload() throws {
        let text = #"{"class":"HardJob","args":[1,"two",{"three":3.0}],"retry":true,"queue":"default","jid":"b4a577edbccf1d805744efa9","created_at":1700000000.1234567,"enqueued_at":1700000000.1234567,"tags":["x"],"custom":{"nested":[null,false]},"big":12345678901234567890}"#
        let value = try JSONValue.parse(text)
        #expect(value.serialized() == text)
        #expect(value["class"]?.stringValue == "HardJob")
        #expect(value["created_at"]?.doubleValue == 1_700_000_000.1234567)
        #expect(value["args"]?[2]?["three"]?.intValue == 3)
        #expect(value["big"]?.intValue == nil)  // too big for Int, still kept as text
    }

    @Test("escapes decode, including surrogate pairs, and re-encode compactly")
    func escapes() throws {
        let value = try JSONValue.parse(#"["a\"b\\c\/d\n\t\u00e9\ud83d\ude82\u0001"]"#)
        #expect(value[0]?.stringValue == "a\"b\\c/d\n\té🚂\u{1}")
        #expect(value.serialized() == #"["a\"b\\c/d\n\té🚂\u0001"]"#)
    }

    @Test("whitespace is accepted; trailing garbage and malformed input are refused with an offset")
    func errors() throws {
        #expect(try JSONValue.parse(" { \"a\" : [ 1 , 2 ] } \n") == ["a": [1, 2]])
        for bad in ["", "{", "[1,]", "{\"a\":}", "tru", "01", "1.", "\"\u{1}\"", "{} x", "[\"\\x\"]", "nul"] {
            #expect(throws: JSONParseError.self, "\(bad)") { try JSONValue.parse(bad) }
        }
        let error = #expect(throws: JSONParseError.self) { try JSONValue.parse("[1, 2, }") }
        #expect(error?.offset == 7)
    }

    @Test("deep nesting is refused instead of overflowing the stack")
    func depthLimit() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(deep) }
    }

    @Test("object writes replace in place, append new keys and remove with nil")
    func objectEditing() throws {
        var object = try #require(try JSONValue.parse(#"{"a":1,"b":2}"#).objectValue)
        object["a"] = "one"
        object["c"] = 3
        object["b"] = nil
        #expect(object.serialized() == #"{"a":"one","c":3}"#)
        #expect(object.keys == ["a", "c"])
    }

    @Test("numbers keep their text; doubles serialise without losing integers")
    func numbers() throws {
        #expect(JSONValue(3.0).serialized() == "3")
        #expect(JSONValue(1_700_000_000.5).serialized() == "1700000000.5")
        #expect(try JSONValue.parse("-0.5e-3").doubleValue == -0.0005)
        #expect(try JSONValue.parse("1E2").intValue == 100)
        #expect(JSONValue(Double.nan).serialized() == "0")
    }
}
