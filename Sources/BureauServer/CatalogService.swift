public import BureauAPI
import BureauWire
import BureauCore
import BureauStore
import Crypto
import Foundation
public import GRPCCore
import Logging
import SwiftProtobuf

/// Serves the public catalogue to every registered caller.
public struct CatalogService: Bureau_CatalogService.SimpleServiceProtocol {
    let context: BureauContext

    init(context: BureauContext) {
        self.context = context
    }

    public func listCategories(
        request: Bureau_ListCategoriesRequest,
        context: ServerContext
    ) async throws -> Bureau_ListCategoriesResponse {
        _ = try self.context.callers.caller(of: context)
        let catalogue = try self.context.catalogue.current()
        var response = Bureau_ListCategoriesResponse()
        response.version = catalogue.version
        response.categories = catalogue.categories.map(Bureau_Category.init)
        return response
    }
}
