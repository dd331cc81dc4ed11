// The node daemon's public face.
export { startNode, primaryAddress, type NodeOptions, type RunningNode } from './node.js';
export { bridgeProblem, checkNodeCidrs, type NetworkMode } from './network/index.js';
