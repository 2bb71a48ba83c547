/// How envelopes are written for a connection: JSON, or HTML fragments for the htmx `ws` extension.
enum LiveFormat: String {
    case json
    case html
}
