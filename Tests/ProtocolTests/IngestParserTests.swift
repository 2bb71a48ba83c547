import LivefeedProtocol
import Testing

@Suite struct IngestParserTests {
    func parse(_ json: String) -> Result<[NewMessage], IngestParser.Failure> {
        IngestParser.parse(Array(json.utf8), maxMessages: 3)
    }

    @Test func oneObjectByNames() throws {
        let out = try parse(#"{"channel":" general ","user":"ada","text":"hi"}"#).get()
        #expect(out == [NewMessage(channel: .name("general"), user: .name("ada"), text: "hi", sentAt: nil)])
    }

    @Test func arrayByIdsWithTimestampNormalisedToUTC() throws {
        let out = try parse(#"[{"channel":2,"user":3,"text":"a","sent_at":"2026-11-26T15:00:00+01:00"}]"#).get()
        #expect(out == [NewMessage(channel: .id(2), user: .id(3), text: "a", sentAt: "2026-11-26T14:00:00.000Z")])
    }

    @Test(arguments: [
        ("", "invalid_json"), ("{", "invalid_json"), ("[]", "invalid_message"), ("42", "invalid_message"),
        (#"{"user":"a","text":"x"}"#, "invalid_message"),
        (#"{"channel":"c","user":"a"}"#, "invalid_message"),
        (#"{"channel":"c","user":"a","text":""}"#, "invalid_message"),
        (#"{"channel":"c","user":"a","text":5}"#, "invalid_message"),
        (#"{"channel":true,"user":"a","text":"x"}"#, "invalid_message"),
        (#"{"channel":0,"user":"a","text":"x"}"#, "invalid_message"),
        (#"{"channel":1.5,"user":"a","text":"x"}"#, "invalid_message"),
        (#"{"channel":"","user":"a","text":"x"}"#, "invalid_message"),
        (#"{"channel":"c","user":"a","text":"x","sent_at":"yesterday"}"#, "invalid_message"),
        (#"{"channel":"c","user":"a","text":"x","colour":"red"}"#, "invalid_message"),
        (#"[{"channel":"c","user":"a","text":"x"},{"channel":"c","user":"a"}]"#, "invalid_message"),
        (#"[1,2,3,4]"#, "too_many_messages"),
    ])
    func badInputIsRejectedWithACode(_ json: String, _ code: String) {
        guard case .failure(let f) = parse(json) else {
            Issue.record("accepted \(json)")
            return
        }
        #expect(f.code == code)
    }

    @Test func secondItemIsNamedInTheError() {
        guard case .failure(let f) = parse(#"[{"channel":"c","user":"a","text":"x"},{"channel":"c","user":"a"}]"#) else {
            Issue.record("accepted")
            return
        }
        #expect(f.message.contains("item 1"))
        #expect(f.message.contains("text"))
    }

    @Test func oversizedNamesAndTextAreRejected() {
        let longName = String(repeating: "n", count: 65)
        let longText = String(repeating: "t", count: 16 * 1024 + 1)
        #expect((try? parse(#"{"channel":"\#(longName)","user":"a","text":"x"}"#).get()) == nil)
        #expect((try? parse(#"{"channel":"c","user":"a","text":"\#(longText)"}"#).get()) == nil)
    }
}
