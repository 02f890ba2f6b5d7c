import BureauKeys
import Testing

@Suite("Field sealing")
struct FieldSealingTests {
    @Test("placeholder") func placeholder() {}
}
