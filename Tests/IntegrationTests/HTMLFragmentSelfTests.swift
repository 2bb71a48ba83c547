import Testing

/// The HTML fragment parser the format=html and polling tests rely on; it must reject what a browser would
/// misread, or those tests would pass on broken markup.
struct HTMLFragmentSelfTests {
    @Test func nestedElementsAttributesAndEntitiesAreParsed() throws {
        let html =
            #"<ol id="messages" hx-swap-oob='beforeend' data-cursor=7>"#
            + #"<li id="msg-7">a &lt;b&gt; &amp; &#39;c&#x27;</li></ol>"#
        let top = try HTMLFragment.topLevelElements(html)
        #expect(top.count == 1)
        let ol = try #require(top.first)
        #expect(ol.name == "ol")
        #expect(ol.attributes == ["id": "messages", "hx-swap-oob": "beforeend", "data-cursor": "7"])
        #expect(ol.elements.map(\.name) == ["li"])
        #expect(ol.elements.first?.textContent == "a <b> & 'c'")
    }

    @Test func unescapedMarkupInTextBecomesElements() throws {
        let top = try HTMLFragment.topLevelElements("<span>x<script>alert(1)</script></span>")
        #expect(top.first?.allElements.map(\.name) == ["span", "script"])
    }

    @Test func malformedFragmentsAreRejected() {
        for bad in ["<span>never closed", "<a></b>", "<p>1 < 2</p>", "<i a=\"x></i>", "</span>", "<b>&bogus;</b>"] {
            #expect(throws: HTMLParseError.self, "\(bad)") { try HTMLFragment.parse(bad) }
        }
    }

    @Test func textAtTopLevelIsNotAnElement() {
        #expect(throws: HTMLParseError.self) { try HTMLFragment.topLevelElements("<b>x</b> tail") }
    }
}
