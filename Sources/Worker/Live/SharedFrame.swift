import LivefeedProtocol

/// A frame encoded at most once per format, then shared by every subscriber that wants it.
struct SharedFrame {
    private var json: SharedBytes?
    private var html: SharedBytes?

    mutating func bytes(_ format: LiveFormat, json makeJSON: () -> [UInt8], html makeHTML: () -> String) -> SharedBytes {
        switch format {
        case .json:
            if let json { return json }
            let frame = SharedBytes(WebSocketFrameEncoder.frame(.text, payload: makeJSON()))
            json = frame
            return frame
        case .html:
            if let html { return html }
            let frame = SharedBytes(WebSocketFrameEncoder.frame(.text, payload: Array(makeHTML().utf8)))
            html = frame
            return frame
        }
    }
}
