import BureauCore

/// Identifier parsing: any text either parses or throws an invalid-argument error naming the field,
/// and whatever parses is normalised (parsing the normalised form gives the same identifier).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIdentifiers(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)

    do throws(BureauError) {
        let id = try ResidentIdentityNumber(parsing: text)
        precondition(id.value.utf8.count == 18, "a resident identity number is 18 characters")
        precondition((try? ResidentIdentityNumber(parsing: id.value)) == id, "normalised form re-parses")
        precondition(ResidentIdentityNumber.occurs(in: "ref " + id.value + " end"), "a valid number is found in text")
    } catch {
        precondition(error.code == .invalidArgument && error.message.hasPrefix("identifier: "), "\(error)")
    }

    do throws(BureauError) {
        let code = try UnifiedSocialCreditCode(parsing: text)
        precondition(code.value.utf8.count == 18, "a unified social credit code is 18 characters")
        precondition((try? UnifiedSocialCreditCode(parsing: code.value)) == code, "normalised form re-parses")
    } catch {
        precondition(error.code == .invalidArgument && error.message.hasPrefix("identifier: "), "\(error)")
    }

    _ = ResidentIdentityNumber.occurs(in: text)
    if let date = CalendarDate(iso: text) {
        precondition(CalendarDate(iso: date.description) == date, "a parsed date prints and re-parses")
        precondition(CalendarDate(daysSinceEpoch: date.daysSinceEpoch) == date, "day numbers round-trip")
    }
    return 0
}
