import Foundation
import LivefeedProtocol
import Testing

@Suite struct EnvelopeTests {
    @Test func messageEnvelopeIsValidJSONWithCursorAndEpoch() throws {
        let m = ChatMessage(
            id: 17, channelID: 2, channelName: "gen\"eral", userID: 3, userName: "ada", text: "<script>\n\u{2028}",
            sentAt: "2026-11-26T14:00:00.123Z")
        let bytes = Envelope.message(m, epoch: "abc", now: "2026-11-26T14:00:01.000Z")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        #expect(object["type"] as? String == "message")
        #expect(object["cursor"] as? Int == 17)
        #expect(object["epoch"] as? String == "abc")
        let data = try #require(object["data"] as? [String: Any])
        #expect(data["text"] as? String == "<script>\n\u{2028}")
        #expect(data["channel"] as? String == "gen\"eral")
        // Raw '<' never appears, so the JSON is inert inside HTML.
        #expect(!bytes.contains(UInt8(ascii: "<")))
    }

    @Test func controlCharactersAreEscaped() throws {
        var out: [UInt8] = []
        JSONWriter.appendString("\u{0}\u{1f}\t", to: &out)
        #expect(String(decoding: out, as: UTF8.self) == #""\u0000\u001f\t""#)
    }

    @Test func statusEnvelopeCarriesRetryHint() throws {
        let bytes = Envelope.status(
            state: "slow_consumer", reason: "slow_consumer", retryAfterMilliseconds: 1000, cursor: 42, epoch: "e1",
            now: "2026-12-05T00:00:00.000Z")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        let data = try #require(object["data"] as? [String: Any])
        #expect(object["type"] as? String == "status")
        #expect(object["cursor"] as? Int == 42)
        #expect(object["epoch"] as? String == "e1")
        #expect(object["sent_at"] as? String == "2026-12-05T00:00:00.000Z")
        #expect(data["retry_after_ms"] as? Int == 1000)
    }

    @Test func timestampsRoundTrip() {
        let ms: Int64 = 1_795_701_600_123
        let text = Timestamp.format(unixMilliseconds: ms)
        #expect(text == "2026-11-26T14:00:00.123Z")
        #expect(Timestamp.parse(text) == ms)
        #expect(Timestamp.parse("2026-11-26T15:00:00.123+01:00") == ms)
        #expect(Timestamp.parse("2026-11-26T14:00:00Z") == ms - 123)
    }

    @Test(arguments: ["", "2026-11-26", "2026-13-01T00:00:00Z", "2026-11-26T14:00:00", "2026-11-26T14:00:00.Z",
        "2026-11-26T25:00:00Z", "x2026-11-26T14:00:00Z", "2026-11-26T14:00:00Zjunk"])
    func malformedTimestampsAreRejected(_ text: String) {
        #expect(Timestamp.parse(text) == nil)
    }
}
