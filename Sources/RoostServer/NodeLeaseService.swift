import Logging
import RoostCore
import RoostStorage
import ServiceLifecycle

/// Keeps this node's id node number leased (see `AppServices.leaseNodeNumber`), renewing it four
/// times per lease, and gives it back on shutdown. Should a renewal come too late (the node was
/// stalled past the lease and another node took the number) the node leases another one.
struct NodeLeaseService: Service {
    let services: AppServices
    let logger: Logger

    func run() async throws {
        while true {
            do {
                let previous = services.ids.node
                let leased = try await services.leaseNodeNumber()
                if leased != previous {
                    logger.notice("id node number changed", metadata: ["roost.node_number": "\(leased)", "roost.previous": "\(previous)"])
                }
            } catch {
                logger.warning("could not renew the id node number lease", metadata: ["error": "\(String(reflecting: type(of: error)))"])
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(AppServices.nodeLease / 4)) }
            } catch {
                break
            }
        }
        try? await services.store.releaseNodeNumber(holder: services.nodeHolder)
    }
}
