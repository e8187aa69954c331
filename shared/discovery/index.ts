export {
  startDiscovery,
  type Discovery,
  type DiscoveryOptions,
  type DiscoveryStats,
  type MulticastSettings,
  type PeerInfo,
  type DiscoveryRole,
} from './discovery.ts';
export { instanceName, instanceFqdn, encodeTxt, SERVICE_FQDN, type Announcement } from './announcement.ts';
