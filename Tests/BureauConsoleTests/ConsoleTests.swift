import Testing
@testable import BureauConsole
