"""A reset service that loses its first reply, as DDS can (a reply sent before the server's writer
matched the client's reader never arrives): /sim/reset_lossy takes the first request and never
answers it; later requests are passed to the simulator's /sim/reset and its reply returned.

Started by `robot-rl up` as `python -m outside_nodes.lossy_reset`."""
import rclpy
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.task import Future
from std_srvs.srv import Trigger


class LossyReset(Node):
    def __init__(self):
        super().__init__("lossy_reset")
        self.calls = 0
        group = ReentrantCallbackGroup()   # the next request is served while the first one hangs
        self.sim = self.create_client(Trigger, "/sim/reset", callback_group=group)
        self.create_service(Trigger, "/sim/reset_lossy", self._on_reset, callback_group=group)

    async def _on_reset(self, request, response):
        self.calls += 1
        if self.calls == 1:
            self.get_logger().info("losing the reply to reset call 1")
            await Future()          # never done: no reply is sent
        reply = await self.sim.call_async(request)
        self.get_logger().info(f"reset call {self.calls} answered: {reply.message}")
        return reply


def main():
    rclpy.init()
    node = LossyReset()
    try:
        rclpy.spin(node, MultiThreadedExecutor())
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass


if __name__ == "__main__":
    main()
