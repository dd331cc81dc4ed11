// `tug node --runtime docker` end to end: a real dockerd, a locally imported busybox image (no
// image is ever pulled), real kubectl. Lifecycle, logs, exec, restarts, a missing image, and
// adoption after the node is SIGKILLed: exactly one container per pod container.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type Docker from 'dockerode';
import { needs } from '../requirements.js';
import { dockerClient, ensureBusyboxImage } from './docker-support.js';
import { NodeCluster } from './node-support.js';

const NODE = 'dock1';

/** busybox httpd on the pod's node port (host networking), serving a page that names the pod. */
function httpdPod(name: string, image: string) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: {
      nodeName: NODE,
      terminationGracePeriodSeconds: 3,
      containers: [
        {
          name: 'web',
          image,
          command: ['sh', '-c', 'mkdir -p /tmp/www && echo "hi from $HOSTNAME" > /tmp/www/index.html && echo "serving on $(PORT)" && exec httpd -f -p 127.0.0.1:$(PORT) -h /tmp/www'],
          ports: [{ name: 'http', containerPort: 8080 }],
          readinessProbe: { httpGet: { path: '/', port: 'http' }, periodSeconds: 1 },
        },
      ],
    },
  };
}

describe('tug node with the docker runtime', { ...(await needs('kubectl', 'docker')), concurrency: false }, () => {
  const cluster = new NodeCluster();
  let docker: Docker | undefined;
  let image = '';

  async function containersOf(pod: string): Promise<Docker.ContainerInfo[]> {
    return docker!.listContainers({ all: true, filters: { label: [`io.tugboat.node=${NODE}`, `io.tugboat.pod.name=${pod}`] } });
  }

  before(async () => {
    docker = dockerClient();
    image = await ensureBusyboxImage(docker);
    await cluster.start();
    await cluster.startNode({ name: NODE, portRange: '21300-21399', runtime: 'docker' });
  });

  after(async () => {
    await cluster.cleanup();
    if (docker) {
      for (const c of await docker.listContainers({ all: true, filters: { label: [`io.tugboat.node=${NODE}`] } })) {
        await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
      }
    }
  });

  it('runs a pod: Running and Ready, serving on its node port, with logs and exec', async () => {
    await cluster.apply(httpdPod('web', image));
    await cluster.waitFor('web ready', async () => {
      const p = await cluster.podJson('web');
      return p.status?.conditions?.find((c: any) => c.type === 'Ready')?.status === 'True' ? true : undefined;
    });
    const wide = await cluster.kubectl(['get', 'pod', 'web', '-o', 'wide']);
    assert.match(wide.stdout, /^web\s+1\/1\s+Running\s+0\s+\S+\s+127\.0\.0\.1\s+dock1\s/m);
    const logs = await cluster.waitFor('serving line', async () => {
      const r = await cluster.kubectl(['logs', 'web']);
      return /serving on (\d+)/.exec(r.stdout)?.[1];
    });
    const res = await fetch(`http://127.0.0.1:${logs}/`);
    assert.equal(await res.text(), 'hi from web\n');
    const exec = await cluster.kubectl(['exec', 'web', '--', 'sh', '-c', 'echo $HOSTNAME; exit 3']);
    assert.equal(exec.code, 3, exec.stderr);
    assert.equal(exec.stdout.trim(), 'web');
    const containers = await containersOf('web');
    assert.equal(containers.length, 1);
    assert.equal(containers[0].Labels['io.tugboat.container.name'], 'web');
    assert.equal(containers[0].HostConfig.NetworkMode, 'host');
    const status = (await cluster.podJson('web')).status.containerStatuses[0];
    assert.match(status.containerID, /^docker:\/\/[0-9a-f]{64}$/);
  });

  it('restarts a container killed from outside and counts the restart', async () => {
    const [running] = (await containersOf('web')).filter((c) => c.State === 'running');
    await docker!.getContainer(running.Id).kill({ signal: 'SIGKILL' });
    await cluster.waitFor('restart counted', async () => {
      const cs = (await cluster.podJson('web')).status.containerStatuses[0];
      return cs.restartCount === 1 && cs.ready ? true : undefined;
    });
    const cs = (await cluster.podJson('web')).status.containerStatuses[0];
    assert.equal(cs.lastState.terminated.exitCode, 137);
    assert.equal((await containersOf('web')).filter((c) => c.State === 'running').length, 1);
  });

  it('shows ErrImageNeverPull and an event for an image that is not on the node, with pull policy Never', async () => {
    const missing = { name: 'c', image: '127.0.0.1:9/missing:1', imagePullPolicy: 'Never' };
    await cluster.apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'noimage' }, spec: { nodeName: NODE, containers: [missing] } });
    const p = await cluster.waitFor('ErrImageNeverPull', async () => {
      const pod = await cluster.podJson('noimage');
      return pod.status.containerStatuses?.[0]?.state?.waiting?.reason === 'ErrImageNeverPull' ? pod : undefined;
    });
    assert.equal(p.status.containerStatuses[0].state.waiting.message, 'Container image "127.0.0.1:9/missing:1" is not present with pull policy of Never');
    const events = await cluster.eventsFor('noimage');
    assert.ok(events.some((e) => e.type === 'Warning' && /missing:1/.test(e.message)), JSON.stringify(events));
    assert.equal((await cluster.podJson('web')).status.phase, 'Running');
  });

  it('adopts its containers after a SIGKILL of tug node: one container per pod container, restart count kept', async () => {
    const before = (await containersOf('web')).filter((c) => c.State === 'running').map((c) => c.Id);
    await cluster.nodes.get(NODE)!.stop('SIGKILL');
    await cluster.startNode({ name: NODE, portRange: '21300-21399', runtime: 'docker' });
    await cluster.waitFor('web ready again', async () => {
      const cs = (await cluster.podJson('web')).status.containerStatuses[0];
      return cs.ready ? true : undefined;
    });
    const running = (await containersOf('web')).filter((c) => c.State === 'running').map((c) => c.Id);
    assert.deepEqual(running, before);
    assert.equal((await cluster.podJson('web')).status.containerStatuses[0].restartCount, 1);
  });

  it('deletes a pod: its containers are stopped and removed', async () => {
    const del = await cluster.kubectl(['delete', 'pod', 'web']);
    assert.equal(del.code, 0, del.stderr);
    assert.deepEqual(await containersOf('web'), []);
  });
});
